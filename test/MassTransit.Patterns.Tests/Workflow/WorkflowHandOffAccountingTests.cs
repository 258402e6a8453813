using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Workflow.Messages;
using MassTransit.Patterns.Workflow;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>
/// Where every message ends once the workflow event handed it off or held it (in memory): a confirmed
/// hand-off counts as consumed, so MassTransit does not also move the original to <c>_skipped</c>
/// (it dead-letters a message whose receive ends neither consumed nor faulted).
/// </summary>
public sealed class WorkflowHandOffAccountingTests
{
    static readonly string[] FinalStates = ["Completed", "AwaitingPerson", "Discarded"];

    [Fact]
    public async Task Every_message_ends_consumed_once_or_in_the_workflow_store_and_none_leaves_a_copy_in_skipped_or_error()
    {
        const int total = 100;
        await using var rig = await WorkflowRig.StartAsync(repairers: x => x.AddMessageRepairer<PlaceOrder, DefaultCurrencyRepairer>(), observeDeadEnds: true);

        var good = new List<Guid>();
        var repairable = new List<Guid>();     // no currency: repaired, resubmitted, processed
        var unrepairable = new List<Guid>();   // bad quantity: waits for a person
        var notTheType = new List<Guid>();     // valid JSON, not a PlaceOrder: fails in the consume pipe, captured there
        var notJson = new List<Guid>();        // not JSON: fails in the receive pipe, captured by the error pipe
        for (var n = 0; n < total; n++)
            switch (n % 10)
            {
                case 3:
                    repairable.Add(await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, null)));
                    break;
                case 6:
                    unrepairable.Add(await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 0, "EUR")));
                    break;
                case 8 when n % 20 == 8:
                    var id = NewId.NextGuid();
                    notTheType.Add(await rig.SendRawAsync(
                        $$$"""{"messageId":"{{{id}}}","messageType":["urn:message:MassTransit.Patterns.Tests.Workflow.Messages:PlaceOrder"],"message":{"orderId":"not a guid","quantity":1,"currency":"EUR"}}""", messageId: id));
                    break;
                case 8:
                    notJson.Add(await rig.SendRawAsync("{\"messageType\": [\"urn:message:Oops\"], \"message\": {\"orderId\": "));
                    break;
                default:
                    good.Add(await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, "USD")));
                    break;
            }

        // Settled: every delivery of the orders queue went through the whole receive pipe (a repaired
        // message is delivered twice), and every handed-off message is in a final state.
        var handedOff = repairable.Concat(unrepairable).Concat(notTheType).Concat(notJson).ToList();
        await Eventually.True(() => rig.Settled.Total == total + repairable.Count, TimeSpan.FromSeconds(30),
            $"every delivery of the orders queue settles (settled {rig.Settled.Total} of {total + repairable.Count})");
        await Eventually.True(async () =>
        {
            foreach (var id in handedOff)
                if (await rig.FindAsync(id) is not { } saga || !FinalStates.Contains(saga.CurrentState))
                    return false;
            return true;
        }, TimeSpan.FromSeconds(30), "every handed-off message reaches a final state");
        await rig.Harness.InactivityTask; // a copy moved to a dead end would have been delivered there by now

        Assert.All(good.Concat(repairable), id => Assert.Equal(1, rig.Ledger.ProcessedCount(id)));
        Assert.Equal(good.Count + repairable.Count, rig.Ledger.Processed.Count);
        var rows = new Dictionary<Guid, WorkflowEventState>();
        foreach (var id in handedOff)
            rows[id] = (await rig.FindAsync(id))!;
        Assert.All(repairable, id => Assert.Equal("Completed", rows[id].CurrentState));
        Assert.All(unrepairable.Concat(notTheType).Concat(notJson), id => Assert.Equal("AwaitingPerson", rows[id].CurrentState));
        Assert.All(notTheType.Concat(notJson), id => Assert.True(rows[id].Malformed));
        var deadEnds = string.Join(", ", rig.DeadEnds!.Arrived.Select(a => $"{a.Key}: {a.Value.Count}"));
        Assert.True(rig.DeadEnds.Total == 0, $"nothing reaches a dead end, found {deadEnds}");
        Assert.False(await rig.Harness.Published.Any<Fault<PlaceOrder>>(), "a handed-off message is not a fault");
        Assert.Equal(total, good.Count + handedOff.Count);
        Assert.Equal(total, rig.Settled.Settled.Count);
    }

    [Fact]
    public async Task Held_messages_leave_no_copy_in_skipped_and_are_processed_in_key_order_after_the_leader_is_resolved()
    {
        await using var rig = await WorkflowRig.StartAsync(holdByKey: true, observeDeadEnds: true);
        var a = Guid.NewGuid();
        var b = Guid.NewGuid();

        var leader = await rig.SendAsync(new PlaceOrder(a, 0, "EUR")); // bad: waits for a person
        await rig.WaitForStateAsync(leader, "AwaitingPerson", "the leader of key A waits for a person");
        var held = new List<Guid>();
        for (var i = 1; i <= 5; i++)
            held.Add(await rig.SendAsync(new PlaceOrder(a, i, "EUR")));
        var other = await rig.SendAsync(new PlaceOrder(b, 1, "EUR"));

        await Eventually.True(async () => (await rig.FindAsync(leader))?.HeldCount == held.Count, TimeSpan.FromSeconds(20), "A's later messages are held");
        await Eventually.True(() => rig.Ledger.ProcessedCount(other) == 1, TimeSpan.FromSeconds(20), "key B is not held");
        await Eventually.True(() => rig.Settled.Total == 2 + held.Count, TimeSpan.FromSeconds(20), "every delivery so far settles");
        await rig.Harness.InactivityTask;
        Assert.True(rig.DeadEnds!.Total == 0, "holding a message leaves no copy in a dead end: " + string.Join(", ", rig.DeadEnds.Arrived.Select(x => $"{x.Key}: {x.Value.Count}")));
        Assert.All(held, id => Assert.Equal(0, rig.Ledger.ProcessedCount(id)));

        var body = System.Text.Json.Nodes.JsonNode.Parse((await rig.Client.InspectAsync(leader)).Body!)!;
        body["message"]!["quantity"] = 1;
        Assert.True((await rig.Client.EditAsync(leader, body.ToJsonString(), "heidi")).Accepted);
        Assert.True((await rig.Client.ResubmitAsync(leader, "heidi")).Accepted);

        await rig.WaitForStateAsync(leader, "Completed", "the edited leader is processed");
        await Eventually.True(() => held.All(id => rig.Ledger.ProcessedCount(id) == 1), TimeSpan.FromSeconds(20), "the held messages are released and processed");
        // Settled: the first deliveries, the leader's resubmitted copy and each released message.
        await Eventually.True(() => rig.Settled.Total == 2 + held.Count + 1 + held.Count, TimeSpan.FromSeconds(20), "every delivery settles");
        await rig.Harness.InactivityTask;

        Assert.Equal([leader, .. held], rig.Ledger.Sequence.Where(id => id == leader || held.Contains(id)));
        Assert.All([leader, other, .. held], id => Assert.Equal(1, rig.Ledger.ProcessedCount(id)));
        Assert.True(rig.DeadEnds.Total == 0, "nothing reaches a dead end: " + string.Join(", ", rig.DeadEnds.Arrived.Select(x => $"{x.Key}: {x.Value.Count}")));
        Assert.Equal(0, (await rig.FindAsync(leader))!.HeldCount);
    }
}
