using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class HealthSnippets
{
    public static void Register(WebApplicationBuilder builder, WebApplication app)
    {
        // begin-snippet: health-checks
        builder.Services.AddHealthChecks().AddPatternsChecks(o =>
        {
            o.OutboxOldestAgeDegraded = TimeSpan.FromSeconds(30);   // a message waiting 30 s in the outbox is worth a look
            o.AwaitingPersonUnhealthy = 20;                          // 20 messages waiting for a person: page someone
        });
        app.MapHealthChecks("/health/patterns", new HealthCheckOptions { Predicate = check => check.Tags.Contains("patterns") });
        // end-snippet
    }
}
