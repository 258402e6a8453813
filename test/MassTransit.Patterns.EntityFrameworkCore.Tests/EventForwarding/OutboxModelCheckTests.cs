using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding
{
    /// <summary>An application DbContext whose OnModelCreating forgot <c>modelBuilder.AddEventForwardingEntities()</c>.</summary>
    public sealed class NoForwardingTablesDb(DbContextOptions<NoForwardingTablesDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.Entity<Effect>().HasKey(e => e.EffectId);
    }

    /// <summary>
    /// The inbox and outbox on a DbContext that does not map their tables are refused when the bus
    /// starts, naming the missing call, instead of faulting the first message and warning every
    /// delivery round.
    /// </summary>
    public sealed class OutboxModelCheckTests
    {
        static async Task<Exception?> StartAsync(bool endpointFilter)
        {
            await using var database = await ThrowawayDatabase<NoForwardingTablesDb>.CreateAsync(false, "nofwd", o => new NoForwardingTablesDb(o));
            await using var provider = new ServiceCollection()
                .AddDbContext<NoForwardingTablesDb>(database.Configure)
                .AddMassTransitTestHarness(x =>
                {
                    x.AddPatternsEntityFrameworkOutbox<NoForwardingTablesDb>();
                    x.AddConsumer<EffectForwardedConsumer>().Endpoint(e => e.Name = "forwarded-no-tables");
                    if (endpointFilter)
                        x.AddConfigureEndpointsCallback((context, _, cfg) => cfg.UsePatternsEntityFrameworkOutbox<NoForwardingTablesDb>(context));
                })
                .AddSingleton<ForwardedLog>()
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            Exception? failure = null;
            try
            {
                await harness.Start();
            }
            catch (Exception exception)
            {
                failure = exception;
            }

            try
            {
                await harness.Stop();
            }
            catch (ConfigurationException) when (failure is ConfigurationException)
            {
                // The bus configuration failed: resolving the hosted services to stop them builds it again and fails the same way.
            }
            return failure;
        }

        static string Messages(Exception exception)
        {
            var messages = new List<string>();
            for (Exception? e = exception; e is not null; e = e.InnerException)
                messages.Add($"{e.GetType().Name}: {e.Message}");
            return string.Join(" --> ", messages);
        }

        [Theory]
        [InlineData(true)]   // consumers on an endpoint with the inbox/outbox filter
        [InlineData(false)]  // only API handlers writing outbox rows: the delivery service alone
        public async Task A_DbContext_without_the_forwarding_tables_fails_the_start_naming_the_missing_call(bool endpointFilter)
        {
            var failure = await StartAsync(endpointFilter);

            Assert.NotNull(failure);
            var messages = Messages(failure);
            Assert.Contains("modelBuilder.AddEventForwardingEntities()", messages);
            Assert.Contains(nameof(NoForwardingTablesDb), messages);
        }
    }
}
