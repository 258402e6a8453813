using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Workflow.Messages;
using MassTransit.Patterns.Workflow;
using MassTransit.Testing;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>Throws what <c>HttpClient</c> throws when its timeout elapses: a <see cref="TaskCanceledException"/> around a <see cref="TimeoutException"/>.</summary>
public sealed class TimingOutRepairer : IMessageRepairer<PlaceOrder>
{
    public async Task<RepairResult<PlaceOrder>> Repair(MessageRepairContext<PlaceOrder> context, CancellationToken cancellationToken)
    {
        await Task.Yield();
        throw HttpTimeout.Exception();
    }
}

static class HttpTimeout
{
    public static TaskCanceledException Exception() =>
        new("The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.",
            new TimeoutException("The operation was canceled."));
}

/// <summary>
/// Cancellation is decided by the token, not by the exception type: a <see cref="TaskCanceledException"/>
/// while nothing is stopping (how <c>HttpClient</c> reports a timeout) is a failure like any other, in a
/// consumer and in a repairer; only a shutdown (the consume context's token cancelled) bypasses the pattern.
/// </summary>
public sealed class WorkflowCancellationTests
{
    [Fact]
    public async Task A_repairer_that_times_out_like_HttpClient_is_recorded_and_the_next_repairer_or_a_person_takes_over()
    {
        await using var rig = await WorkflowRig.StartAsync(observeDeadEnds: true, repairers: x =>
        {
            x.AddMessageRepairer<PlaceOrder, TimingOutRepairer>();
            x.AddMessageRepairer<PlaceOrder, DefaultCurrencyRepairer>();
        });

        var repairable = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, null));
        var unrepairable = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 0, "EUR"));

        var repaired = await rig.WaitForStateAsync(repairable, "Completed", "the repairer after the one that timed out repairs it");
        var waiting = await rig.WaitForStateAsync(unrepairable, "AwaitingPerson", "no repairer could help: a person must act");
        await rig.Harness.InactivityTask;

        Assert.Equal(["failed", "repairer_failed", "repaired", "resubmitted", "completed"], repaired.ReadAudit().Select(a => a.Action));
        var failed = Assert.Single(waiting.ReadAudit(), a => a.Action == "repairer_failed");
        Assert.Equal(nameof(TimingOutRepairer), failed.Actor);
        Assert.Contains(nameof(TaskCanceledException), failed.Detail);
        Assert.Contains(await rig.Client.ListAsync(), m => m.CorrelationId == unrepairable);
        Assert.Equal(1, rig.Ledger.ProcessedCount(repairable));
        Assert.True(rig.DeadEnds!.Total == 0, "nothing reaches a dead end: " + string.Join(", ", rig.DeadEnds.Arrived.Select(x => $"{x.Key}: {x.Value.Count}")));
        Assert.False(await rig.Harness.Published.Any<Fault<WorkflowFailureReported>>(), "the processor did not fault");
    }
}
