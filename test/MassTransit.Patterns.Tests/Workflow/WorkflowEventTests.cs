using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Workflow.Messages;
using MassTransit.Patterns.Workflow;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>The workflow event under MassTransit's test harness (in-memory transport and saga repository).</summary>
public sealed class WorkflowEventTests
{
    [Fact]
    public async Task A_repairable_message_is_handed_off_repaired_resubmitted_and_processed_once_while_good_messages_flow()
    {
        await using var rig = await WorkflowRig.StartAsync(repairers: x => x.AddMessageRepairer<PlaceOrder, DefaultCurrencyRepairer>());

        var bad = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 2, null));
        var good = new List<Guid>();
        for (var i = 0; i < 20; i++)
            good.Add(await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, "USD")));

        var saga = await rig.WaitForStateAsync(bad, "Completed", "the repaired copy is processed and the workflow completes");
        await Eventually.True(() => good.All(id => rig.Ledger.ProcessedCount(id) == 1), TimeSpan.FromSeconds(20), "every good message is processed");

        Assert.Equal(1, rig.Ledger.ProcessedCount(bad));
        Assert.All(good, id => Assert.Equal(1, rig.Ledger.ProcessedCount(id)));
        Assert.Equal(1, saga.RepairAttempts);
        Assert.Equal(1, saga.Attempt);
        Assert.Equal("repairer:DefaultCurrencyRepairer", saga.ResubmittedBy);
        var actions = saga.ReadAudit().Select(a => a.Action).ToList();
        Assert.Equal(["failed", "repaired", "resubmitted", "completed"], actions);
        Assert.False(await rig.Harness.Published.Any<Fault<PlaceOrder>>(), "a delegated failure is not a fault");
        Assert.Empty(await rig.Harness.Sent.Settled<PlaceOrder>(m => m.Context.DestinationAddress?.AbsolutePath.EndsWith("_error") == true));
    }

    [Fact]
    public async Task A_repairer_that_keeps_producing_a_bad_message_stops_after_max_attempts_and_the_message_waits_for_a_person()
    {
        const int max = 2;
        await using var rig = await WorkflowRig.StartAsync(repairers: x => x.AddMessageRepairer<PlaceOrder, UselessQuantityRepairer>(), maxRepairAttempts: max);

        var bad = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 0, "EUR"));

        var saga = await rig.WaitForStateAsync(bad, "AwaitingPerson", "the repairer gives up after the maximum");
        Assert.Equal(max, saga.RepairAttempts);
        Assert.Equal(max, saga.Attempt);
        Assert.Equal(max + 1, saga.Failures);
        Assert.Equal(0, rig.Ledger.ProcessedCount(bad));
        Assert.Equal(max, saga.ReadAudit().Count(a => a.Action == "resubmitted"));
        Assert.Contains(saga.ReadAudit(), a => a.Action == "waiting" && a.Detail!.Contains("maximum is 2"));

        // It stays there: no further copies are resubmitted.
        var waiting = await rig.Client.ListAsync();
        Assert.Contains(waiting, m => m.CorrelationId == bad && m.Failures == max + 1);
        Assert.Equal(max, (await rig.FindAsync(bad))!.Attempt);
    }

    [Fact]
    public async Task A_person_edits_and_resubmits_a_waiting_message_once_it_is_processed_once_and_the_audit_says_who_did_what()
    {
        await using var rig = await WorkflowRig.StartAsync();

        var bad = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), -5, "EUR"));
        await rig.WaitForStateAsync(bad, "AwaitingPerson", "no repairer: a person must act");

        var details = await rig.Client.InspectAsync(bad);
        Assert.True(details.Found);
        var body = System.Text.Json.Nodes.JsonNode.Parse(details.Body!)!;
        Assert.Equal(-5, (int)body["message"]!["quantity"]!);
        Assert.Equal(typeof(InvalidOrderException).FullName, details.Summary!.ExceptionType);

        body["message"]!["quantity"] = 5;
        var edited = await rig.Client.EditAsync(bad, body.ToJsonString(), "alice", "customer confirmed 5");
        Assert.True(edited.Accepted, edited.Reason);
        var resubmitted = await rig.Client.ResubmitAsync(bad, "alice");
        Assert.True(resubmitted.Accepted, resubmitted.Reason);
        var twice = await rig.Client.ResubmitAsync(bad, "bob");
        Assert.False(twice.Accepted, "a second resubmit is refused while the first copy is on its way");

        var saga = await rig.WaitForStateAsync(bad, "Completed", "the edited copy is processed");
        await rig.Harness.InactivityTask;
        Assert.Equal(1, rig.Ledger.ProcessedCount(bad));
        var audit = saga.ReadAudit();
        var edit = Assert.Single(audit, a => a.Action == "edited");
        Assert.Equal("person:alice", edit.Actor);
        Assert.Contains("customer confirmed 5", edit.Detail);
        Assert.Contains("message.quantity: -5 -> 5", edit.Detail);
        Assert.Contains(audit, a => a is { Action: "resubmitted", Actor: "person:alice" });
        Assert.Contains(audit, a => a is { Action: "refused", Actor: "person:bob" });
        Assert.Single(audit, a => a.Action == "completed");
    }

    [Fact]
    public async Task A_person_discards_a_waiting_message_and_it_is_never_processed()
    {
        await using var rig = await WorkflowRig.StartAsync();
        var bad = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 0, "EUR"));
        await rig.WaitForStateAsync(bad, "AwaitingPerson", "a person must act");

        var result = await rig.Client.DiscardAsync(bad, "carol", "duplicate order");

        Assert.True(result.Accepted);
        Assert.Equal("Discarded", result.State);
        var saga = (await rig.FindAsync(bad))!;
        Assert.Contains(saga.ReadAudit(), a => a is { Action: "discarded", Actor: "person:carol", Detail: "duplicate order" });
        Assert.False((await rig.Client.ResubmitAsync(bad, "carol")).Accepted);
        Assert.Equal(0, rig.Ledger.ProcessedCount(bad));
    }

    [Fact]
    public async Task A_body_that_is_not_valid_JSON_is_captured_raw_and_a_person_can_fix_it()
    {
        await using var rig = await WorkflowRig.StartAsync();
        var orderId = Guid.NewGuid();

        var bad = await rig.SendRawAsync("{\"messageType\": [\"urn:message:Oops\"], \"message\": {\"orderId\": ");

        var saga = await rig.WaitForStateAsync(bad, "AwaitingPerson", "the malformed body is captured");
        Assert.True(saga.Malformed);
        Assert.Equal("{\"messageType\": [\"urn:message:Oops\"], \"message\": {\"orderId\": ", System.Text.Encoding.UTF8.GetString(saga.Body));
        Assert.Contains("orders", saga.SourceAddress);
        Assert.False(await rig.Harness.Published.Any<ReceiveFault>(), "not a receive fault: captured");

        var fixedBody = $$$"""{"messageId":"{{{bad}}}","messageType":["urn:message:MassTransit.Patterns.Tests.Workflow.Messages:PlaceOrder"],"message":{"orderId":"{{{orderId}}}","quantity":1,"currency":"EUR"}}""";
        Assert.True((await rig.Client.EditAsync(bad, fixedBody, "dave")).Accepted);
        Assert.True((await rig.Client.ResubmitAsync(bad, "dave")).Accepted);

        await rig.WaitForStateAsync(bad, "Completed", "the fixed body is processed");
        Assert.Equal(1, rig.Ledger.ProcessedCount(bad));
    }

    [Fact]
    public async Task A_transient_failure_is_retried_in_place_and_never_delegated()
    {
        await using var rig = await WorkflowRig.StartAsync(o => o.RetryLimit = 3);
        rig.Ledger.FailTransientlyTimes = 2;

        var id = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, "EUR"));

        await Eventually.True(() => rig.Ledger.ProcessedCount(id) == 1, TimeSpan.FromSeconds(20), "processed after two in-place retries");
        await rig.Harness.InactivityTask;
        Assert.Equal(3, rig.Ledger.TransientFailures[id]);
        Assert.Null(await rig.FindAsync(id));
        Assert.False(await rig.Harness.Sent.Any<WorkflowFailureReported>());
    }

    [Fact]
    public async Task When_the_hand_off_fails_the_message_takes_the_normal_error_path()
    {
        await using var rig = await WorkflowRig.StartAsync(o => o.RepairAddress = new Uri("nowhere://unreachable/" + WorkflowProcessorOptions.DefaultQueueName));

        var bad = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 0, "EUR"));

        Assert.True(await rig.Harness.Published.Any<Fault<PlaceOrder>>(x => x.Context.Message.FaultedMessageId == bad), "the fault is published");
        await rig.Harness.InactivityTask;
        Assert.Null(await rig.FindAsync(bad));
        Assert.Equal(0, rig.Ledger.ProcessedCount(bad));
    }

    [Fact]
    public async Task An_exception_sent_to_the_error_queue_is_not_delegated()
    {
        await using var rig = await WorkflowRig.StartAsync(o => o.UseErrorQueue<InvalidOrderException>(e => e.Message.StartsWith("quantity")));

        var bad = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 0, "EUR"));

        Assert.True(await rig.Harness.Published.Any<Fault<PlaceOrder>>(x => x.Context.Message.FaultedMessageId == bad));
        Assert.Null(await rig.FindAsync(bad));
    }

    [Fact]
    public async Task A_consumers_own_UseMessageRetry_runs_inside_the_filter_and_what_it_gives_up_on_is_handed_off()
    {
        const int retries = 2;
        await using var rig = await WorkflowRig.StartAsync(o => o.RetryLimit = 0,
            consumer: c => c.UseMessageRetry(r => r.Immediate(retries)));
        rig.Ledger.FailTransientlyTimes = 100; // never recovers

        var id = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, "EUR"));

        var saga = await rig.WaitForStateAsync(id, "AwaitingPerson", "handed off once MassTransit's retry gave up");
        Assert.Equal(retries + 1, rig.Ledger.TransientFailures[id]);
        Assert.Equal(typeof(TimeoutException).FullName, saga.ExceptionType);
        Assert.False(await rig.Harness.Published.Any<Fault<PlaceOrder>>(), "no fault: the retried failure was delegated");
    }

    [Fact]
    public async Task With_hold_by_key_later_messages_of_the_key_wait_behind_the_failed_one_and_are_released_in_order_after_it()
    {
        await using var rig = await WorkflowRig.StartAsync(holdByKey: true);
        var a = Guid.NewGuid();
        var b = Guid.NewGuid();

        var a1 = await rig.SendAsync(new PlaceOrder(a, 0, "EUR"));   // bad: waits for a person
        await rig.WaitForStateAsync(a1, "AwaitingPerson", "the first message of key A waits for a person");
        var a2 = await rig.SendAsync(new PlaceOrder(a, 2, "EUR"));
        var a3 = await rig.SendAsync(new PlaceOrder(a, 3, "EUR"));
        var b1 = await rig.SendAsync(new PlaceOrder(b, 1, "EUR"));

        await Eventually.True(() => rig.Ledger.ProcessedCount(b1) == 1, TimeSpan.FromSeconds(20), "another key is not held");
        await Eventually.True(async () => (await rig.FindAsync(a1))?.HeldCount == 2, TimeSpan.FromSeconds(20), "A's later messages are held behind it");
        Assert.Equal(0, rig.Ledger.ProcessedCount(a2));
        Assert.Equal(0, rig.Ledger.ProcessedCount(a3));

        // A restarted instance learns from the processor which keys are still held.
        var restarted = new WorkflowHoldRegistry();
        Assert.Equal(1, await WorkflowHoldLoader.LoadAsync(restarted, rig.Harness.Bus, new Uri("queue:" + WorkflowProcessorOptions.DefaultQueueName), TimeSpan.FromSeconds(20)));
        Assert.Equal(a1, restarted.LeaderOf(WorkflowRig.Queue, a.ToString()));
        Assert.Null(restarted.LeaderOf(WorkflowRig.Queue, b.ToString()));

        var details = await rig.Client.InspectAsync(a1);
        var body = System.Text.Json.Nodes.JsonNode.Parse(details.Body!)!;
        body["message"]!["quantity"] = 1;
        Assert.True((await rig.Client.EditAsync(a1, body.ToJsonString(), "heidi")).Accepted);
        Assert.True((await rig.Client.ResubmitAsync(a1, "heidi")).Accepted);

        await Eventually.True(() => rig.Ledger.ProcessedCount(a3) == 1, TimeSpan.FromSeconds(20), "the held messages are released");
        var order = rig.Ledger.Sequence.Where(id => id == a1 || id == a2 || id == a3).ToList();
        Assert.Equal([a1, a2, a3], order);

        // The key is free again: a later message goes straight through.
        await Eventually.True(async () => (await rig.Harness.Consumed.Now<WorkflowKeyReleased>()).Count > 0, TimeSpan.FromSeconds(20), "the release is announced");
        var a4 = await rig.SendAsync(new PlaceOrder(a, 4, "EUR"));
        await Eventually.True(() => rig.Ledger.ProcessedCount(a4) == 1, TimeSpan.FromSeconds(20), "A is no longer held");
        var saga = (await rig.FindAsync(a1))!;
        Assert.Equal(0, saga.HeldCount);
        Assert.Contains(saga.ReadAudit(), e => e.Action == "released" && e.Detail!.StartsWith("2 held"));
        Assert.All([a1, a2, a3, a4, b1], id => Assert.Equal(1, rig.Ledger.ProcessedCount(id)));
    }

    [Fact]
    public async Task With_hold_by_key_discarding_the_failed_message_releases_the_ones_behind_it()
    {
        await using var rig = await WorkflowRig.StartAsync(holdByKey: true);
        var a = Guid.NewGuid();
        var a1 = await rig.SendAsync(new PlaceOrder(a, 0, "EUR"));
        await rig.WaitForStateAsync(a1, "AwaitingPerson", "the first message waits");
        var a2 = await rig.SendAsync(new PlaceOrder(a, 2, "EUR"));
        await Eventually.True(async () => (await rig.FindAsync(a1))?.HeldCount == 1, TimeSpan.FromSeconds(20), "the second is held");

        Assert.True((await rig.Client.DiscardAsync(a1, "ivan", "cancelled")).Accepted);

        await Eventually.True(() => rig.Ledger.ProcessedCount(a2) == 1, TimeSpan.FromSeconds(20), "released after the discard");
        Assert.Equal(0, rig.Ledger.ProcessedCount(a1));
    }

    [Fact]
    public async Task A_duplicate_failure_report_and_a_late_processed_report_change_nothing()
    {
        await using var rig = await WorkflowRig.StartAsync(repairers: x => x.AddMessageRepairer<PlaceOrder, DefaultCurrencyRepairer>());
        var bad = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 1, null));
        var saga = await rig.WaitForStateAsync(bad, "Completed", "repaired and processed");
        var processor = await rig.Harness.Bus.GetSendEndpoint(new Uri("queue:" + WorkflowProcessorOptions.DefaultQueueName));

        // The original redelivered and failing again (its ack was lost), and the processed copy reported twice.
        await processor.Send(new WorkflowFailureReported { CorrelationId = bad, Attempt = 0, ExceptionType = "X", ExceptionMessage = "again" });
        await processor.Send(new WorkflowMessageProcessed { CorrelationId = bad, Attempt = 1 });
        await Eventually.True(async () => (await rig.FindAsync(bad))!.ReadAudit().Count(a => a.Action == "ignored") == 2, TimeSpan.FromSeconds(20),
            "both reports are recorded as ignored");

        var after = (await rig.FindAsync(bad))!;
        Assert.Equal("Completed", after.CurrentState);
        Assert.Equal(saga.Attempt, after.Attempt);
        Assert.Equal(saga.Failures, after.Failures);
        Assert.Equal(1, rig.Ledger.ProcessedCount(bad));
        Assert.Equal(1, after.ReadAudit().Count(a => a.Action == "resubmitted"));
    }

    [Fact]
    public async Task A_held_message_that_overtakes_its_leaders_failure_report_starts_the_leaders_row_and_is_kept()
    {
        await using var rig = await WorkflowRig.StartAsync(holdByKey: true);
        var leader = NewId.NextGuid();
        var processor = await rig.Harness.Bus.GetSendEndpoint(new Uri("queue:" + WorkflowProcessorOptions.DefaultQueueName));

        await processor.Send(new WorkflowMessageHeld { CorrelationId = leader, MessageId = NewId.NextGuid(), Key = "k", Sequence = 1, Body = [1] });
        await Eventually.True(async () => (await rig.FindAsync(leader))?.CurrentState == "Received", TimeSpan.FromSeconds(20), "the held report starts the row");
        await processor.Send(new WorkflowFailureReported
        {
            CorrelationId = leader,
            ExceptionType = "X",
            ExceptionMessage = "bad",
            HoldKey = "k",
            SourceAddress = new Uri("loopback://localhost/" + WorkflowRig.Queue)
        });

        var saga = await rig.WaitForStateAsync(leader, "AwaitingPerson", "the leader's failure is then handled as a first failure");
        Assert.Equal(1, saga.HeldCount);
        Assert.Equal(1, saga.Failures);
        Assert.False(await rig.Harness.Published.Any<Fault<WorkflowMessageHeld>>());
    }

    [Fact]
    public async Task The_processor_endpoint_has_the_outbox_and_the_concurrency_retry()
    {
        await using var rig = await WorkflowRig.StartAsync();

        var probe = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(rig.Harness.Bus.GetProbeResult()))!;
        var endpoint = probe["Results"]!["bus"]!["host"]!["receiveEndpoint"]!.AsArray()
            .Single(e => (string?)e!["name"] == WorkflowProcessorOptions.DefaultQueueName)!.ToJsonString();

        Assert.Contains("\"filterType\":\"outbox\"", endpoint);
        Assert.Contains("\"filterType\":\"retry\"", endpoint);
    }

    [Fact]
    public void The_audit_keeps_the_first_entry_and_the_latest_ones_beyond_its_limit()
    {
        var state = new WorkflowEventState();
        for (var i = 0; i < 10; i++)
            state.AddAudit(DateTimeOffset.UnixEpoch.AddSeconds(i), "system", $"step{i}", null, limit: 4);

        Assert.Equal(["step0", "step7", "step8", "step9"], state.ReadAudit().Select(a => a.Action));
        Assert.Equal(4, state.AuditCount);
    }

    [Fact]
    public async Task Hold_by_key_without_its_registry_and_a_second_UseWorkflowEvent_on_one_endpoint_fail_the_start()
    {
        var noRegistry = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var provider = new ServiceCollection().AddMassTransitTestHarness(x =>
            {
                x.AddWorkflowEventProcessor();
                x.UsingInMemory((ctx, cfg) => cfg.ReceiveEndpoint("held", e =>
                {
                    e.UseWorkflowEvent(ctx, o => o.HoldByKey<PlaceOrder>(m => m.OrderId.ToString()));
                    e.Handler<PlaceOrder>(_ => Task.CompletedTask);
                }));
            }).BuildServiceProvider(true);
            await provider.GetRequiredService<ITestHarness>().Start();
        });
        Assert.Contains("HoldByKey", noRegistry.ToString());

        var twice = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            // The container's meter factory (a host has one): UseWorkflowEvent records on it.
            await using var provider = new ServiceCollection().AddMetrics().AddMassTransitTestHarness(x =>
            {
                x.UsingInMemory((ctx, cfg) => cfg.ReceiveEndpoint("twice", e =>
                {
                    e.UseWorkflowEvent(ctx);
                    e.UseWorkflowEvent(ctx);
                    e.Handler<PlaceOrder>(_ => Task.CompletedTask);
                }));
            }).BuildServiceProvider(true);
            await provider.GetRequiredService<ITestHarness>().Start();
        });
        Assert.Contains("called twice", twice.ToString());
    }

    [Fact]
    public void Invalid_options_are_named()
    {
        var options = new WorkflowEventOptions { RetryLimit = -1, MaxRepairAttempts = -2 };
        var failures = options.CreateValidator().Failures.Select(f => f.Option).ToList();
        Assert.Contains("WorkflowEventOptions.RetryLimit", failures);
        Assert.Contains("WorkflowEventOptions.MaxRepairAttempts", failures);

        var processor = new WorkflowProcessorOptions { QueueName = " ", AuditLimit = 1 };
        var ex = Assert.Throws<PatternOptionsException>(() => processor.EnsureValid());
        Assert.Contains("WorkflowProcessorOptions.QueueName", ex.Message);
        Assert.Contains("WorkflowProcessorOptions.AuditLimit", ex.Message);
    }
}
