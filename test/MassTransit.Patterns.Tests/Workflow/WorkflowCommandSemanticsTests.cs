using System.Text.Json.Nodes;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Workflow.Messages;
using MassTransit.Patterns.Workflow;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>
/// What a person's commands answer, as a repair console needs it: the kind of every refusal, an edit made on a stale
/// version refused with nothing changed, an edited body that does not deserialize refused with the reason, and a
/// discarded message restored. In-memory transport and saga repository; every message sent is accounted for.
/// </summary>
public sealed class WorkflowCommandSemanticsTests
{
    const string PlaceOrderUrn = "urn:message:MassTransit.Patterns.Tests.Workflow.Messages:PlaceOrder";

    static async Task<(WorkflowRig Rig, Guid Id)> WaitingAsync(PlaceOrder order, Action<IBusRegistrationConfigurator>? repairers = null)
    {
        var rig = await WorkflowRig.StartAsync(repairers: repairers, observeDeadEnds: true);
        var id = await rig.SendAsync(order);
        await rig.WaitForStateAsync(id, "AwaitingPerson", "no repairer can help: a person must act");
        return (rig, id);
    }

    static string WithQuantity(WorkflowMessageDetails details, JsonNode quantity)
    {
        var body = JsonNode.Parse(details.Body!)!;
        body["message"]!["quantity"] = quantity;
        return body.ToJsonString();
    }

    /// <summary>The bad message ended processed once (after the fix) or still in the store; nothing reached a dead end.</summary>
    static async Task AssertAccountedAsync(WorkflowRig rig, Guid id, int processed)
    {
        await rig.Harness.InactivityTask;
        Assert.Equal(processed, rig.Ledger.ProcessedCount(id));
        Assert.Equal(processed, rig.Ledger.Processed.Count);
        Assert.Equal(0, rig.DeadEnds!.Total);
        Assert.NotNull(await rig.FindAsync(id));
    }

    [Fact]
    public async Task An_edit_made_on_the_version_inspected_is_accepted_and_moves_the_version_on()
    {
        var (rig, id) = await WaitingAsync(new PlaceOrder(Guid.NewGuid(), -5, "EUR"));
        await using var _ = rig;

        var seen = await rig.Client.InspectAsync(id);
        Assert.Equal((await rig.FindAsync(id))!.Version, seen.Version);
        Assert.True(seen.Version > 0, "the version counts the changes made so far");

        var edited = await rig.Client.EditAsync(id, WithQuantity(seen, 5), "alice", "confirmed 5", expectedVersion: seen.Version);

        Assert.True(edited.Accepted, edited.Reason);
        Assert.Equal(WorkflowCommandRefusal.None, edited.Refusal);
        var after = await rig.Client.InspectAsync(id);
        Assert.Equal(seen.Version + 1, after.Version);
        Assert.Equal(5, (int)JsonNode.Parse(after.Body!)!["message"]!["quantity"]!);

        Assert.True((await rig.Client.ResubmitAsync(id, "alice")).Accepted);
        await rig.WaitForStateAsync(id, "Completed", "the edited copy is processed");
        await AssertAccountedAsync(rig, id, processed: 1);
    }

    [Fact]
    public async Task An_edit_made_on_a_stale_version_is_refused_as_stale_says_so_and_changes_nothing()
    {
        var (rig, id) = await WaitingAsync(new PlaceOrder(Guid.NewGuid(), -5, "EUR"));
        await using var _ = rig;

        // Alice and Bob open the same message; Alice saves first.
        var alice = await rig.Client.InspectAsync(id);
        var bob = await rig.Client.InspectAsync(id);
        Assert.True((await rig.Client.EditAsync(id, WithQuantity(alice, 5), "alice", expectedVersion: alice.Version)).Accepted);
        var stored = await rig.Client.InspectAsync(id);

        var stale = await rig.Client.EditAsync(id, WithQuantity(bob, 7), "bob", "my fix", expectedVersion: bob.Version);

        Assert.False(stale.Accepted);
        Assert.Equal(WorkflowCommandRefusal.Stale, stale.Refusal);
        Assert.Equal("AwaitingPerson", stale.State);
        Assert.Contains($"edited on version {bob.Version}, the message is now at version {stored.Version}: reload it", stale.Reason);
        var now = await rig.Client.InspectAsync(id);
        Assert.Equal(stored.Body, now.Body);
        Assert.Equal(5, (int)JsonNode.Parse(now.Body!)!["message"]!["quantity"]!);
        Assert.Equal("AwaitingPerson", now.Summary!.State);
        var refused = Assert.Single(now.Audit, a => a.Action == "refused");
        Assert.Equal("person:bob", refused.Actor);
        Assert.Contains("reload it", refused.Detail);
        Assert.Single(now.Audit, a => a.Action == "edited");

        // Only Alice's body is ever resubmitted, once.
        Assert.True((await rig.Client.ResubmitAsync(id, "alice")).Accepted);
        await rig.WaitForStateAsync(id, "Completed", "Alice's copy is processed");
        await AssertAccountedAsync(rig, id, processed: 1);
        Assert.Single((await rig.FindAsync(id))!.ReadAudit(), a => a.Action == "resubmitted");
    }

    [Fact]
    public async Task An_edited_body_that_does_not_deserialize_is_refused_as_invalid_with_the_reason_before_anything_changes()
    {
        // The typed repairer makes PlaceOrder a type the processor knows (it cannot fix a bad quantity).
        var (rig, id) = await WaitingAsync(new PlaceOrder(Guid.NewGuid(), 0, "EUR"), x => x.AddMessageRepairer<PlaceOrder, DefaultCurrencyRepairer>());
        await using var _ = rig;
        var seen = await rig.Client.InspectAsync(id);

        var notJson = await rig.Client.EditAsync(id, "{\"message\": {\"quantity\": ", "erin", expectedVersion: seen.Version);
        Assert.Equal(WorkflowCommandRefusal.Invalid, notJson.Refusal);
        Assert.Contains("not valid JSON", notJson.Reason);

        var noMessage = await rig.Client.EditAsync(id, $$"""{"messageType":["{{PlaceOrderUrn}}"],"messageId":"{{id}}"}""", "erin");
        Assert.Equal(WorkflowCommandRefusal.Invalid, noMessage.Refusal);
        Assert.Contains("needs a \"message\" object", noMessage.Reason);

        var noType = await rig.Client.EditAsync(id, """{"message":{"quantity":1}}""", "erin");
        Assert.Equal(WorkflowCommandRefusal.Invalid, noType.Refusal);
        Assert.Contains("messageType", noType.Reason);

        var wrongShape = await rig.Client.EditAsync(id, WithQuantity(seen, new JsonObject { ["amount"] = 1 }), "erin");
        Assert.Equal(WorkflowCommandRefusal.Invalid, wrongShape.Refusal);
        Assert.Contains($"does not deserialize to {typeof(PlaceOrder).FullName}", wrongShape.Reason);

        var unchanged = await rig.Client.InspectAsync(id);
        Assert.Equal(seen.Body, unchanged.Body);
        Assert.Equal("AwaitingPerson", unchanged.Summary!.State);
        Assert.Equal(4, unchanged.Audit.Count(a => a is { Action: "refused", Actor: "person:erin" }));
        Assert.DoesNotContain(unchanged.Audit, a => a.Action == "edited");

        // A body that deserializes is accepted, and fixes the message.
        Assert.True((await rig.Client.EditAsync(id, WithQuantity(unchanged, 2), "erin", expectedVersion: unchanged.Version)).Accepted);
        Assert.True((await rig.Client.ResubmitAsync(id, "erin")).Accepted);
        await rig.WaitForStateAsync(id, "Completed", "the valid edit is processed");
        await AssertAccountedAsync(rig, id, processed: 1);
    }

    [Fact]
    public void A_type_added_to_the_processor_options_is_checked_and_other_content_types_are_not()
    {
        var known = WorkflowEditCheck.KnownTypes(new WorkflowProcessorOptions().AddMessageType<PlaceOrder>(), null);
        var envelope = """{"messageType":["URN"],"message":{"orderId":"not-a-guid","quantity":1}}""".Replace("URN", PlaceOrderUrn, StringComparison.Ordinal);

        var refused = WorkflowEditCheck.Refusal(System.Text.Encoding.UTF8.GetBytes(envelope), null, [], known, 1024);
        var raw = WorkflowEditCheck.Refusal("""{"orderId":"not-a-guid"}"""u8.ToArray(), "application/json", [PlaceOrderUrn], known, 1024);
        var unknownType = WorkflowEditCheck.Refusal(System.Text.Encoding.UTF8.GetBytes(envelope), null, [], new Dictionary<string, Type>(), 1024);
        var xml = WorkflowEditCheck.Refusal("<order>"u8.ToArray(), "application/xml", [PlaceOrderUrn], known, 1024);
        var tooLarge = WorkflowEditCheck.Refusal(new byte[2048], "application/xml", [], known, 1024);

        Assert.Contains($"does not deserialize to {typeof(PlaceOrder).FullName}", refused);
        Assert.Contains($"does not deserialize to {typeof(PlaceOrder).FullName}", raw);
        Assert.Null(unknownType);
        Assert.Null(xml);
        Assert.Contains("at most 1024", tooLarge);
    }

    [Fact]
    public async Task A_discarded_message_is_restored_waits_for_a_person_again_and_can_then_be_fixed()
    {
        var (rig, id) = await WaitingAsync(new PlaceOrder(Guid.NewGuid(), -1, "EUR"));
        await using var _ = rig;
        Assert.True((await rig.Client.DiscardAsync(id, "carol", "looked like a duplicate")).Accepted);
        Assert.NotNull((await rig.FindAsync(id))!.ResolvedAt);

        var restored = await rig.Client.RestoreAsync(id, "dave", "not a duplicate after all");

        Assert.True(restored.Accepted, restored.Reason);
        Assert.Equal(WorkflowCommandRefusal.None, restored.Refusal);
        Assert.Equal("AwaitingPerson", restored.State);
        var details = await rig.Client.InspectAsync(id);
        Assert.Null(details.ResolvedAt);
        Assert.Contains(details.Audit, a => a is { Action: "restored", Actor: "person:dave", Detail: "not a duplicate after all" });

        Assert.True((await rig.Client.EditAsync(id, WithQuantity(details, 1), "dave", expectedVersion: details.Version)).Accepted);
        Assert.True((await rig.Client.ResubmitAsync(id, "dave")).Accepted);
        await rig.WaitForStateAsync(id, "Completed", "the restored and fixed message is processed");
        await AssertAccountedAsync(rig, id, processed: 1);
    }

    [Fact]
    public async Task Restore_outside_Discarded_is_refused_as_wrong_state_and_changes_nothing()
    {
        var (rig, id) = await WaitingAsync(new PlaceOrder(Guid.NewGuid(), -1, "EUR"));
        await using var _ = rig;

        var waiting = await rig.Client.RestoreAsync(id, "dave");
        Assert.False(waiting.Accepted);
        Assert.Equal(WorkflowCommandRefusal.WrongState, waiting.Refusal);
        Assert.Equal("AwaitingPerson", waiting.State);
        Assert.Contains("restore needs Discarded", waiting.Reason);

        var details = await rig.Client.InspectAsync(id);
        Assert.True((await rig.Client.EditAsync(id, WithQuantity(details, 1), "dave")).Accepted);
        Assert.True((await rig.Client.ResubmitAsync(id, "dave")).Accepted);
        await rig.WaitForStateAsync(id, "Completed", "the fixed message is processed");

        var completed = await rig.Client.RestoreAsync(id, "dave");
        Assert.False(completed.Accepted);
        Assert.Equal(WorkflowCommandRefusal.WrongState, completed.Refusal);
        Assert.Equal("Completed", completed.State);
        var resubmitCompleted = await rig.Client.ResubmitAsync(id, "dave");
        Assert.Equal(WorkflowCommandRefusal.WrongState, resubmitCompleted.Refusal);
        Assert.Equal("Completed", (await rig.FindAsync(id))!.CurrentState);
        await AssertAccountedAsync(rig, id, processed: 1);
    }

    [Fact]
    public async Task Every_command_for_an_unknown_id_is_refused_as_not_found_and_one_without_an_actor_as_invalid()
    {
        var (rig, id) = await WaitingAsync(new PlaceOrder(Guid.NewGuid(), -1, "EUR"));
        await using var _ = rig;
        var unknown = NewId.NextGuid();

        WorkflowCommandResult[] results =
        [
            await rig.Client.EditAsync(unknown, "{}", "frank"),
            await rig.Client.ResubmitAsync(unknown, "frank"),
            await rig.Client.DiscardAsync(unknown, "frank"),
            await rig.Client.RestoreAsync(unknown, "frank")
        ];

        Assert.All(results, r =>
        {
            Assert.False(r.Accepted);
            Assert.Equal(WorkflowCommandRefusal.NotFound, r.Refusal);
            Assert.Equal(unknown, r.CorrelationId);
        });
        var noActor = await rig.Client.DiscardAsync(id, " ");
        Assert.Equal(WorkflowCommandRefusal.Invalid, noActor.Refusal);
        Assert.Null(await rig.FindAsync(unknown));
        Assert.Equal("AwaitingPerson", (await rig.FindAsync(id))!.CurrentState);
        await AssertAccountedAsync(rig, id, processed: 0);
    }
}
