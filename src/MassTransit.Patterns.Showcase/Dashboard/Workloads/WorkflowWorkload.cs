using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Showcase.Scenarios;
using MassTransit.Patterns.Workflow;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Showcase.Dashboard.Workloads;

/// <summary>The workflow event: invoices without end (see <see cref="InvoiceProducer"/>), failing ones repaired or waiting for a person in the repair console.</summary>
public sealed class WorkflowWorkload : IDashboardWorkload
{
    public const string Queue = "showcase-invoices";
    public const string RepairQueue = "showcase-invoices-repair";

    public string Name => "workflow";

    public void AddServices(IServiceCollection services, ShowcaseContext context)
    {
        services.AddSingleton(new WorkflowScenario.Books());
        services.AddDbContext<WorkflowScenario.WorkflowShowcaseDb>(o =>
            o.UseSqlite(context.SqliteConnectionString("dashboard") + ";Default Timeout=60"));
        services.AddHostedService<InvoiceProducer>();
        services.AddPatternsEntityFrameworkWorkflowStore<WorkflowScenario.WorkflowShowcaseDb>();
    }

    public void AddBus(IBusRegistrationConfigurator x, ShowcaseContext context)
    {
        x.AddWorkflowEventProcessor(o => o.QueueName = RepairQueue)
            .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<WorkflowScenario.WorkflowShowcaseDb>());
        x.AddMessageRepairer<Messages.BookInvoice, WorkflowScenario.CurrencyRepairer>();
        x.AddConsumer<DashboardInvoiceConsumer>().Endpoint(e =>
        {
            e.Name = Queue;
            e.ConcurrentMessageLimit = 4;
        });
    }

    public void ConfigureEndpoint(IRegistrationContext context, string queueName, IReceiveEndpointConfigurator cfg)
    {
        if (queueName == Queue)
            cfg.UseWorkflowEvent(context, o => o.RepairAddress = new Uri($"exchange:{RepairQueue}"));
    }

    public async Task PrepareAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WorkflowScenario.WorkflowShowcaseDb>();
        await db.Database.EnsureCreatedAsync(cancellationToken);
        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
    }
}
