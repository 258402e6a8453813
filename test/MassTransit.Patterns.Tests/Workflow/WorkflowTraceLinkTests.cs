using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Workflow.Messages;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>
/// The trace of a repaired message: the resubmitted copy's consume (MassTransit's receive activity) carries links to the
/// original failed attempt's consume and to the repair (a repairer's <c>workflow.repair</c>, a person's
/// <c>workflow.resubmit</c>), which links the failed attempt too.
/// Activities of the <c>MassTransit</c> and <c>MassTransit.Patterns</c> sources are recorded by a listener; the other tests
/// of the assembly run alongside, so every activity is picked by this test's own message id.
/// </summary>
public sealed class WorkflowTraceLinkTests : IDisposable
{
    const string MessageIdTag = "messaging.masstransit.message_id";
    const string OriginalIdTag = "masstransit.patterns.workflow.original_message_id";

    readonly ConcurrentQueue<Activity> _stopped = new();
    readonly ActivityListener _listener;

    public WorkflowTraceLinkTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "MassTransit" or PatternsDiagnostics.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task The_copy_a_repairer_resubmitted_is_consumed_in_an_activity_linked_to_the_failed_attempt_and_to_the_repair()
    {
        await using var rig = await WorkflowRig.StartAsync(repairers: x => x.AddMessageRepairer<PlaceOrder, DefaultCurrencyRepairer>());

        var bad = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 2, null));
        await rig.WaitForStateAsync(bad, "Completed", "the repaired copy is processed");

        var (failed, processed) = await ConsumesOfAsync(bad);
        var repair = await PatternsActivityAsync("workflow.repair", bad);
        Assert.Equal("repairer:DefaultCurrencyRepairer", repair.GetTagItem("masstransit.patterns.workflow.resubmitted_by"));
        AssertLinkedToFailedAttempt(repair, failed);
        AssertCopyConsumedLinked(bad, failed, repair, processed);
        Assert.Equal(1, rig.Ledger.ProcessedCount(bad));
    }

    [Fact]
    public async Task The_copy_a_person_edited_and_resubmitted_is_consumed_in_an_activity_linked_to_the_failed_attempt_and_to_the_resubmit()
    {
        await using var rig = await WorkflowRig.StartAsync();

        var bad = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), -5, "EUR"));
        await rig.WaitForStateAsync(bad, "AwaitingPerson", "no repairer: a person must act");
        var body = System.Text.Json.Nodes.JsonNode.Parse((await rig.Client.InspectAsync(bad)).Body!)!;
        body["message"]!["quantity"] = 5;
        Assert.True((await rig.Client.EditAsync(bad, body.ToJsonString(), "alice", "customer confirmed 5")).Accepted);
        Assert.True((await rig.Client.ResubmitAsync(bad, "alice")).Accepted);
        await rig.WaitForStateAsync(bad, "Completed", "the edited copy is processed");

        var (failed, processed) = await ConsumesOfAsync(bad);
        var resubmit = await PatternsActivityAsync("workflow.resubmit", bad);
        Assert.Equal("person:alice", resubmit.GetTagItem("masstransit.patterns.workflow.resubmitted_by"));
        AssertLinkedToFailedAttempt(resubmit, failed);
        AssertCopyConsumedLinked(bad, failed, resubmit, processed);
        Assert.Equal(1, rig.Ledger.ProcessedCount(bad));
    }

    /// <summary>
    /// The consumer's two activities for the message id (the resubmitted copy keeps it): the failed attempt and the processed copy.
    /// The attempt's consume is the receive activity of its delivery, the parent of the consumer's activity.
    /// </summary>
    async Task<(Activity Failed, Activity Processed)> ConsumesOfAsync(Guid id)
    {
        Activity[] consumes = [];
        await Eventually.True(() => (consumes = Consumes(id)).Length == 2, TimeSpan.FromSeconds(10),
            $"the consumer ran twice for message {id}: the failed attempt and the copy (seen {Consumes(id).Length}) ");
        var ordered = consumes.OrderBy(a => a.StartTimeUtc).ToArray();
        Assert.Equal(ActivityStatusCode.Error, ordered[0].Status);
        Assert.NotEqual(ActivityStatusCode.Error, ordered[1].Status);
        return (ordered[0], ordered[1]);
    }

    Activity[] Consumes(Guid id) => _stopped.Where(a => a.Source.Name == "MassTransit" && a.OperationName.EndsWith(" process", StringComparison.Ordinal)
                                                       && Equals(a.GetTagItem("messaging.masstransit.consumer_type"), typeof(OrderConsumer).FullName)
                                                       && Equals(a.GetTagItem(MessageIdTag), id.ToString("D"))).ToArray();

    async Task<Activity> PatternsActivityAsync(string name, Guid id)
    {
        Activity? found = null;
        await Eventually.True(() => (found = _stopped.SingleOrDefault(a => a.Source.Name == PatternsDiagnostics.Name && a.OperationName == name
                                                                           && Equals(a.GetTagItem(OriginalIdTag), id.ToString("D")))) is not null,
            TimeSpan.FromSeconds(10), $"a {name} activity of message {id} was recorded");
        return found!;
    }

    static void AssertLinkedToFailedAttempt(Activity activity, Activity failedConsumer) =>
        Assert.Contains(activity.Links, l => l.Context.TraceId == failedConsumer.TraceId && l.Context.SpanId == failedConsumer.ParentSpanId);

    /// <summary>
    /// The copy's consume (MassTransit's receive activity, the parent of its consumer's activity) links the failed attempt's
    /// consume and the repair, and says which workflow attempt it is.
    /// </summary>
    void AssertCopyConsumedLinked(Guid id, Activity failedConsumer, Activity repair, Activity processedConsumer)
    {
        var consume = _stopped.Single(a => a.Source.Name == "MassTransit" && a.SpanId == processedConsumer.ParentSpanId);
        Assert.EndsWith(" receive", consume.OperationName, StringComparison.Ordinal);
        Assert.Equal(id.ToString("D"), consume.GetTagItem(OriginalIdTag));
        Assert.Equal(1, consume.GetTagItem("masstransit.patterns.workflow.attempt"));
        AssertLinkedToFailedAttempt(consume, failedConsumer);
        Assert.Contains(consume.Links, l => l.Context.TraceId == repair.TraceId && l.Context.SpanId == repair.SpanId);
        // Two deliveries: the copy's consume is not the failed attempt's.
        Assert.NotEqual(failedConsumer.ParentSpanId, consume.SpanId);
    }
}
