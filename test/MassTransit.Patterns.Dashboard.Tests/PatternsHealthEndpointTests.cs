using System.Diagnostics;
using System.Net;
using MassTransit.Patterns.EventForwarding;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Tests;

/// <summary>The patterns' checks behind <c>MapHealthChecks</c>: the HTTP status follows the worst check, the reason reaches the answer, a hanging store does not hang it.</summary>
public sealed class PatternsHealthEndpointTests
{
    sealed class ScriptedBacklog : IOutboxBacklog
    {
        public volatile Func<Task<OutboxBacklogReading>> Read = () => Task.FromResult(new OutboxBacklogReading(0, null, DateTimeOffset.UtcNow));

        public string Name => "OrdersDb";

        public Task<OutboxBacklogReading> ReadAsync(CancellationToken cancellationToken = default) => Read();
    }

    [Fact]
    public async Task The_endpoint_answers_200_then_503_with_the_reason_while_the_outbox_falls_behind_or_hangs_and_200_when_it_catches_up()
    {
        var outbox = new ScriptedBacklog();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddSingleton<IOutboxBacklog>(outbox);
        builder.Services.AddHealthChecks().AddPatternsChecks(o => o.ReadTimeout = TimeSpan.FromMilliseconds(300));
        await using var app = builder.Build();
        app.MapHealthChecks("/health/patterns", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("patterns"),
            ResponseWriter = (context, report) => context.Response.WriteAsync(string.Join("\n",
                report.Entries.Where(e => e.Value.Status != Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy)
                    .Select(e => $"{e.Key}: {e.Value.Status}: {e.Value.Description}")))
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        var client = app.GetTestClient();

        async Task<(HttpStatusCode, string)> Get()
        {
            var response = await client.GetAsync("/health/patterns", TestContext.Current.CancellationToken);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        Assert.Equal((HttpStatusCode.OK, ""), await Get());

        outbox.Read = () => Task.FromResult(new OutboxBacklogReading(12000, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "patterns-outbox: Unhealthy: Outbox 'OrdersDb': 12000 messages not delivered yet (unhealthy at 10000)."),
            await Get());

        var never = new TaskCompletionSource<OutboxBacklogReading>();
        outbox.Read = () => never.Task;
        var watch = Stopwatch.StartNew();
        var hung = await Get();
        watch.Stop();
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "patterns-outbox: Unhealthy: Outbox 'OrdersDb': its backlog could not be read: did not answer within 00:00:00.3000000."),
            hung);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(10));

        outbox.Read = () => Task.FromResult(new OutboxBacklogReading(0, null, DateTimeOffset.UtcNow));
        Assert.Equal((HttpStatusCode.OK, ""), await Get());
        never.SetResult(new OutboxBacklogReading(0, null, DateTimeOffset.UtcNow));
        await app.StopAsync(TestContext.Current.CancellationToken);
    }
}
