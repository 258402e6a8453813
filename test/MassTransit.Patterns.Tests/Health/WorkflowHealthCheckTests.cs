using MassTransit.Patterns.Health;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Workflow;
using MassTransit.Patterns.Tests.Workflow.Messages;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;

namespace MassTransit.Patterns.Tests.Health;

public sealed class WorkflowHealthCheckTests
{
    [Fact]
    public async Task Messages_waiting_for_a_person_over_the_count_or_age_thresholds_degrade_then_fail_the_check_and_clear_when_a_person_acts()
    {
        await using var workflow = await WorkflowRig.StartAsync(observeDeadEnds: true);
        var store = workflow.Harness.Provider.GetRequiredService<IWorkflowMessageStore>();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var rig = HealthRig.Build(s => s.AddSingleton(store).AddSingleton<TimeProvider>(time), o =>
        {
            o.AwaitingPersonDegraded = 1;
            o.AwaitingPersonUnhealthy = 2;
            o.AwaitingPersonAgeDegraded = TimeSpan.FromHours(1);
            o.AwaitingPersonAgeUnhealthy = TimeSpan.FromHours(24);
        });

        var healthy = await rig.CheckAsync(PatternsHealthCheckNames.Workflow);
        Assert.Equal((HealthStatus.Healthy, "No workflow message waits for a person beyond the thresholds.", 0L),
            (healthy.Status, healthy.Description, healthy.Data["awaitingPerson"]));

        // No repairer: each invalid order waits for a person.
        var first = await workflow.SendAsync(new PlaceOrder(Guid.NewGuid(), -1, "EUR"));
        await workflow.WaitForStateAsync(first, "AwaitingPerson", "no repairer: a person must act");
        var one = await rig.CheckAsync(PatternsHealthCheckNames.Workflow);
        Assert.Equal((HealthStatus.Degraded, "1 workflow message(s) wait for a person (degraded at 1)."), (one.Status, one.Description));
        Assert.Equal(first.ToString(), one.Data["oldestId"]);

        var second = await workflow.SendAsync(new PlaceOrder(Guid.NewGuid(), 0, "EUR"));
        await workflow.WaitForStateAsync(second, "AwaitingPerson", "no repairer: a person must act");
        var two = await rig.CheckAsync(PatternsHealthCheckNames.Workflow);
        Assert.Equal((HealthStatus.Unhealthy, "2 workflow message(s) wait for a person (unhealthy at 2)."), (two.Status, two.Description));

        // A person discards the second; the first has waited past the age thresholds (on the check's clock).
        Assert.True((await workflow.Client.DiscardAsync(second, "carol", "duplicate")).Accepted);
        await workflow.WaitForStateAsync(second, "Discarded", "discarded by a person");
        var receivedAt = (await workflow.FindAsync(first))!.ReceivedAt;
        time.SetUtcNow(receivedAt + TimeSpan.FromHours(2));
        var old = await rig.CheckAsync(PatternsHealthCheckNames.Workflow);
        Assert.Equal(HealthStatus.Degraded, old.Status);
        Assert.Equal("1 workflow message(s) wait for a person (degraded at 1). The oldest workflow message waiting for a person "
            + $"({first}, urn:message:MassTransit.Patterns.Tests.Workflow.Messages:PlaceOrder) was received 02:00:00 ago (degraded at 01:00:00).", old.Description);
        time.SetUtcNow(receivedAt + TimeSpan.FromHours(25));
        var older = await rig.CheckAsync(PatternsHealthCheckNames.Workflow);
        Assert.Equal(HealthStatus.Unhealthy, older.Status);
        Assert.StartsWith("The oldest workflow message waiting for a person", older.Description);
        Assert.Contains("was received 1.01:00:00 ago (unhealthy at 1.00:00:00). 1 workflow message(s) wait for a person (degraded at 1).", older.Description);

        Assert.True((await workflow.Client.DiscardAsync(first, "carol", "customer cancelled")).Accepted);
        await workflow.WaitForStateAsync(first, "Discarded", "discarded by a person");
        var cleared = await rig.CheckAsync(PatternsHealthCheckNames.Workflow);
        Assert.Equal((HealthStatus.Healthy, 0L), (cleared.Status, cleared.Data["awaitingPerson"]));

        // Every message sent ended in the workflow store, discarded: none consumed, none in a dead end.
        await workflow.Harness.InactivityTask;
        Assert.Equal([("Discarded", 2L)], (await store.CountByStateAsync(TestContext.Current.CancellationToken)).Select(c => (c.Key, c.Value)));
        Assert.Empty(workflow.Ledger.Processed);
        Assert.Equal(0, workflow.DeadEnds!.Total);
    }

    [Fact]
    public async Task A_store_that_does_not_answer_fails_the_check_within_the_read_timeout()
    {
        var never = new TaskCompletionSource<IReadOnlyDictionary<string, long>>();
        await using var rig = HealthRig.Build(s => s.AddSingleton<IWorkflowMessageStore>(new HangingStore(never.Task)),
            o => o.ReadTimeout = TimeSpan.FromMilliseconds(300));

        var hung = await rig.CheckAsync(PatternsHealthCheckNames.Workflow);

        Assert.Equal((HealthStatus.Unhealthy, "The workflow store could not be read: did not answer within 00:00:00.3000000."), (hung.Status, hung.Description));
        never.SetResult(new Dictionary<string, long>());
    }

    /// <summary>A store whose count never answers (a database that holds the connection).</summary>
    sealed class HangingStore(Task<IReadOnlyDictionary<string, long>> counts) : IWorkflowMessageStore
    {
        public Task<IReadOnlyDictionary<string, long>> CountByStateAsync(CancellationToken cancellationToken = default) => counts;

        public Task<WorkflowMessagePage> ListAsync(WorkflowMessageQuery query, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<WorkflowMessageGroup>> GroupsAsync(WorkflowMessageFilter filter, WorkflowGrouping grouping, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException();

        public Task<WorkflowMessageDetails?> FindAsync(Guid id, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<Guid>> IdsAsync(WorkflowMessageFilter filter, int limit, CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
