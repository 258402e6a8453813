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

    [Fact]
    public async Task A_consumer_timing_out_like_HttpClient_is_retried_in_place_and_processed_once()
    {
        await using var rig = await WorkflowRig.StartAsync(o => o.RetryLimit = 3, observeDeadEnds: true);
        rig.Ledger.FailTransientlyTimes = 2;
        rig.Ledger.TransientFailure = HttpTimeout.Exception;

        var id = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, "EUR"));

        await Eventually.True(() => rig.Ledger.ProcessedCount(id) == 1, TimeSpan.FromSeconds(20), "processed after two in-place retries");
        await Eventually.True(() => rig.Settled.Total == 1, TimeSpan.FromSeconds(20), "the delivery settles");
        await rig.Harness.InactivityTask;
        Assert.Equal(3, rig.Ledger.TransientFailures[id]);
        Assert.Null(await rig.FindAsync(id));
        Assert.False(await rig.Harness.Sent.Any<WorkflowFailureReported>(), "not handed off");
        Assert.False(await rig.Harness.Published.Any<Fault<PlaceOrder>>(), "no fault");
        Assert.True(rig.DeadEnds!.Total == 0, "nothing reaches a dead end: " + string.Join(", ", rig.DeadEnds.Arrived.Select(x => $"{x.Key}: {x.Value.Count}")));
    }

    [Fact]
    public async Task A_consumer_that_keeps_timing_out_like_HttpClient_is_handed_off_after_the_retries_not_sent_to_error()
    {
        // As in docs/workflow-event.md's example (Turn it on), the endpoint lists what it delegates: a timeout is delegated once its retries are exhausted.
        await using var rig = await WorkflowRig.StartAsync(o =>
        {
            o.RetryLimit = 2;
            o.Delegate<InvalidOrderException>();
        }, observeDeadEnds: true);
        rig.Ledger.FailTransientlyTimes = 100;
        rig.Ledger.TransientFailure = HttpTimeout.Exception;

        var id = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, "EUR"));

        var saga = await rig.WaitForStateAsync(id, "AwaitingPerson", "handed off once the retries in place gave up");
        await rig.Harness.InactivityTask;
        Assert.Equal(3, rig.Ledger.TransientFailures[id]);
        Assert.Equal(typeof(TaskCanceledException).FullName, saga.ExceptionType);
        Assert.Contains(saga.ReadAudit(), a => a.Action == "failed" && a.Detail!.Contains("after 2 retries in place"));
        Assert.False(await rig.Harness.Published.Any<Fault<PlaceOrder>>(), "a delegated failure is not a fault");
        Assert.True(rig.DeadEnds!.Total == 0, "nothing reaches a dead end: " + string.Join(", ", rig.DeadEnds.Arrived.Select(x => $"{x.Key}: {x.Value.Count}")));
    }

    [Fact]
    public async Task A_cancellation_that_is_not_a_shutdown_is_a_failure_the_pattern_handles()
    {
        await using var rig = await WorkflowRig.StartAsync(observeDeadEnds: true);
        rig.Ledger.FailTransientlyTimes = 100;
        rig.Ledger.TransientFailure = () => new TaskCanceledException("a call the consumer made was cancelled by its own token");

        var id = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, "EUR"));

        var saga = await rig.WaitForStateAsync(id, "AwaitingPerson", "handed off: the bus was not stopping");
        await rig.Harness.InactivityTask;
        Assert.Equal(1, rig.Ledger.TransientFailures[id]); // not transient: no retry in place
        Assert.Equal(typeof(TaskCanceledException).FullName, saga.ExceptionType);
        Assert.False(await rig.Harness.Published.Any<Fault<PlaceOrder>>());
        Assert.True(rig.DeadEnds!.Total == 0, "nothing reaches a dead end: " + string.Join(", ", rig.DeadEnds.Arrived.Select(x => $"{x.Key}: {x.Value.Count}")));
    }

    [Fact]
    public async Task A_consumer_cancelled_by_the_bus_stopping_is_not_handed_off()
    {
        var rig = await WorkflowRig.StartAsync(consumerStopTimeout: TimeSpan.FromMilliseconds(200));
        await using (rig)
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            rig.Ledger.WaitForShutdown = started;

            var id = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, "EUR"));
            await started.Task.WaitAsync(TimeSpan.FromSeconds(20));
            await rig.Harness.Stop(); // the consume token is cancelled after ConsumerStopTimeout

            Assert.Equal(0, rig.Ledger.ProcessedCount(id));
            Assert.False(await rig.Harness.Sent.Any<WorkflowFailureReported>(), "a shutdown's cancellation is not handed off");
            Assert.Null(await rig.FindAsync(id));
        }
    }

    [Fact]
    public void Classification_goes_by_the_exception_not_by_its_being_a_cancellation()
    {
        var options = new WorkflowEventOptions();
        Assert.True(options.IsTransient(new TimeoutException()));
        Assert.True(options.IsTransient(HttpTimeout.Exception()), "HttpClient's timeout is a timeout");
        Assert.False(options.IsTransient(new TaskCanceledException()));
        Assert.Equal(WorkflowDecision.Delegate, options.Classify(HttpTimeout.Exception()));
        Assert.Equal(WorkflowDecision.Delegate, options.Classify(new TaskCanceledException()));
        Assert.Equal(WorkflowDecision.ErrorPath, new WorkflowEventOptions().UseErrorQueue<OperationCanceledException>().Classify(new TaskCanceledException()));
    }
}
