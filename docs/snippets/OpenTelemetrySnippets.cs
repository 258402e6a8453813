using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace MassTransit.Patterns.Docs.Snippets;

public static class OpenTelemetrySnippets
{
    public static void Wire(IServiceCollection services)
    {
        // begin-snippet: readme-opentelemetry
        services.AddOpenTelemetry()
            .WithMetrics(m => m.AddMeter("MassTransit.Patterns", "MassTransit"))    // every pattern's instruments, and MassTransit's
            .WithTracing(t => t.AddSource("MassTransit.Patterns", "MassTransit"));  // workflow.repair / workflow.resubmit, MassTransit's send and receive
        // end-snippet
    }
}
