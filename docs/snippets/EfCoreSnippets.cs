using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class EfCoreSnippets
{
    public static void SagaRepository(IServiceCollection services, string connectionString)
    {
        // begin-snippet: ef-core-saga-repository
        services.AddDbContext<AppDb>(o => o.UseNpgsql(connectionString)); // or UseSqlite / UseSqlServer
        services.AddMassTransit(x =>
        {
            x.AddSagaStateMachine<OrderStateMachine, OrderState>()
                .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<AppDb>())
                .Endpoint(e => e.AddConfigureEndpointCallback((ctx, cfg) =>
                {
                    cfg.UseSagaConcurrencyRetry();   // conflicts are retried, so every event applies once
                    cfg.UseInMemoryOutbox(ctx);      // and a retried event publishes once
                }));
            // or for every saga: x.SetPatternsEntityFrameworkSagaRepositoryProvider(r => r.ExistingDbContext<AppDb>());
        });
        // end-snippet
    }
}
