using MassTransit.Patterns.FaultHost.Messages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MassTransit.Patterns.FaultHost.Messages
{
    /// <summary>A message of key <see cref="Key"/>, the <see cref="Seq"/>-th of its key (from 0).</summary>
    public record StripedOrder(string Key, int Seq);
}

namespace MassTransit.Patterns.FaultHost
{
    /// <summary>
    /// An app instance of the thread delegate's stripes on a RabbitMQ cluster (<c>--stripes</c> mode of this process):
    /// it consumes every stripe queue (quorum queues, single active consumer) with the thread delegate, and records each
    /// consumption in PostgreSQL's <c>consumptions</c> table (a global order by its identity) before the acknowledgement.
    /// </summary>
    public sealed record StripeAppSettings
    {
        public required int[] ClusterPorts { get; init; }
        public string RabbitHost { get; init; } = "127.0.0.1";
        public required string RabbitUser { get; init; }
        public required string RabbitPassword { get; init; }
        public required string Postgres { get; init; }
        public required string Prefix { get; init; }
        public required int Stripes { get; init; }
        public required string Instance { get; init; }

        public string[] ToArguments() =>
        [
            "--stripes", "--rabbit-host", RabbitHost, "--rabbit-cluster", string.Join(',', ClusterPorts), "--rabbit-user", RabbitUser,
            "--rabbit-password", RabbitPassword, "--postgres", Postgres, "--prefix", Prefix, "--stripe-count", Stripes.ToString(), "--instance", Instance
        ];

        public static StripeAppSettings Parse(string[] args)
        {
            string Value(string name)
            {
                var index = Array.IndexOf(args, name);
                return index >= 0 && index + 1 < args.Length ? args[index + 1] : throw new ArgumentException($"missing {name}");
            }

            return new StripeAppSettings
            {
                RabbitHost = Value("--rabbit-host"),
                ClusterPorts = Value("--rabbit-cluster").Split(',').Select(int.Parse).ToArray(),
                RabbitUser = Value("--rabbit-user"),
                RabbitPassword = Value("--rabbit-password"),
                Postgres = Value("--postgres"),
                Prefix = Value("--prefix"),
                Stripes = int.Parse(Value("--stripe-count")),
                Instance = Value("--instance")
            };
        }

        /// <summary>The table the instances write their consumptions to.</summary>
        public const string TableSql = "CREATE TABLE consumptions (id bigserial PRIMARY KEY, key text NOT NULL, seq int NOT NULL, instance text NOT NULL, redelivered boolean NOT NULL)";
    }

    public static class StripeApp
    {
        /// <summary>Registers the instance's bus: the cluster (its first port first), quorum stripe queues, 4 thread-delegate lanes each.</summary>
        public static IServiceCollection AddStripeApp(this IServiceCollection services, StripeAppSettings settings)
        {
            services.AddSingleton(settings);
            services.AddSingleton(NpgsqlDataSource.Create(settings.Postgres));
            services.AddMassTransit(x =>
            {
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(settings.RabbitHost, (ushort)settings.ClusterPorts[0], "/", h =>
                    {
                        h.Username(settings.RabbitUser);
                        h.Password(settings.RabbitPassword);
                        h.UseCluster(c =>
                        {
                            foreach (var port in settings.ClusterPorts)
                                c.Node($"{settings.RabbitHost}:{port}");
                        });
                    });
                    cfg.UseThreadDelegateStripeRouting<StripedOrder>(settings.Stripes, m => m.Key);
                    cfg.ThreadDelegateStripeEndpoints<StripedOrder>(context, settings.Prefix, settings.Stripes, m => m.Key, (e, _) =>
                    {
                        e.SetQuorumQueue();
                        e.PrefetchCount = 16;
                        e.UseMessageRetry(r => r.Interval(20, TimeSpan.FromMilliseconds(250)));
                        e.Consumer(() => new StripedOrderConsumer(context.GetRequiredService<NpgsqlDataSource>(), settings.Instance));
                    }, o => o.Workers = 4);
                });
            });
            return services;
        }

        public static async Task RunAsync(string[] args, Action<string> report)
        {
            var settings = StripeAppSettings.Parse(args);
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            builder.Services.AddStripeApp(settings);
            using var host = builder.Build();
            await host.StartAsync();
            await host.Services.GetRequiredService<IBusControl>().WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(60));
            report("READY");
            await host.WaitForShutdownAsync();
        }
    }

    /// <summary>Records the consumption (committed before the acknowledgement), then does a little work.</summary>
    public sealed class StripedOrderConsumer(NpgsqlDataSource database, string instance) : IConsumer<StripedOrder>
    {
        public async Task Consume(ConsumeContext<StripedOrder> context)
        {
            await using var command = database.CreateCommand("INSERT INTO consumptions (key, seq, instance, redelivered) VALUES ($1, $2, $3, $4)");
            command.Parameters.Add(new NpgsqlParameter { Value = context.Message.Key });
            command.Parameters.Add(new NpgsqlParameter { Value = context.Message.Seq });
            command.Parameters.Add(new NpgsqlParameter { Value = instance });
            command.Parameters.Add(new NpgsqlParameter { Value = context.ReceiveContext.Redelivered });
            await command.ExecuteNonQueryAsync(context.CancellationToken);
            await Task.Delay(2, context.CancellationToken);
        }
    }
}
