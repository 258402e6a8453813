using System.Diagnostics;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>
/// A person's command (what the repair console sends) is a request to the processor. MassTransit starts a request's
/// timeout only once its send reaches the transport, so a command whose send waits before it (for a channel after a
/// broker node's loss) must still end: within the client's timeout and its bound, with a <see cref="TimeoutException"/>.
/// Here the bus's send pipe hangs the commands, ignoring cancellation; real time.
/// </summary>
public sealed class WorkflowClientHungSendTests
{
    static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task A_command_whose_send_hangs_before_the_transport_fails_with_a_timeout_and_the_next_one_is_answered()
    {
        var sends = new HangSwitch();
        var services = new ServiceCollection();
        services.AddMassTransitTestHarness(x =>
        {
            x.AddWorkflowEventProcessor().InMemoryRepository();
            x.UsingInMemory((context, cfg) =>
            {
                sends.HangSendsOf<ListWorkflowMessages>(cfg);
                cfg.ConfigureEndpoints(context);
            });
        });
        await using var provider = services.BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        try
        {
            var client = new WorkflowEventClient(harness.Bus, timeout: Timeout);
            Assert.Empty(await client.ListAsync());

            sends.Hang();
            var waited = Stopwatch.StartNew();
            var failure = await Assert.ThrowsAsync<TimeoutException>(() => client.ListAsync());
            waited.Stop();
            Assert.Equal(1, sends.Calls);
            Assert.StartsWith("No answer within the request timeout", failure.Message);
            // The timeout, the bound's grace (1 s + 1 s), and some room for a busy machine; without the bound it never ends.
            Assert.InRange(waited.Elapsed, Timeout, Timeout + TimeSpan.FromSeconds(5));

            sends.Release();
            Assert.Empty(await client.ListAsync());
        }
        finally
        {
            sends.Release();
            await harness.Stop();
        }
    }
}
