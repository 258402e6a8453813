using MassTransit.Patterns.Tests.Workflow.Messages;
using MassTransit.Patterns.Workflow;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Workflow;

/// <summary>
/// With the in-memory saga repository, <c>AddWorkflowEventProcessor</c> registers a workflow store that reads the
/// repository: a repair console lists, groups, counts and inspects what the processor holds.
/// </summary>
public sealed class WorkflowInMemoryStoreTests
{
    [Fact]
    public async Task The_default_store_lists_groups_counts_and_finds_what_the_processor_holds()
    {
        await using var rig = await WorkflowRig.StartAsync(observeDeadEnds: true);
        var store = rig.Harness.Provider.GetRequiredService<IWorkflowMessageStore>();
        var quantity = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), -1, "EUR"));
        var currency = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 2, null));
        var another = await rig.SendAsync(new PlaceOrder(Guid.NewGuid(), 0, "EUR"));
        foreach (var id in new[] { quantity, currency, another })
            await rig.WaitForStateAsync(id, "AwaitingPerson", "no repairer: a person must act");
        Assert.True((await rig.Client.DiscardAsync(another, "carol", "duplicate")).Accepted);

        var waiting = await store.ListAsync(new WorkflowMessageQuery { Filter = new() { State = "AwaitingPerson" }, Descending = false });
        var searched = await store.ListAsync(new WorkflowMessageQuery { Filter = new() { Search = "CURRENCY MISSING" } });
        var groups = await store.GroupsAsync(new WorkflowMessageFilter(), WorkflowGrouping.ExceptionAndMessageType);
        var counts = await store.CountByStateAsync();
        var details = await store.FindAsync(quantity);

        // Oldest failure first (the two were handed off concurrently: the order is the processor's, read from the sagas).
        var expected = new List<(DateTimeOffset ReceivedAt, Guid Id)>();
        foreach (var id in new[] { quantity, currency })
            expected.Add(((await rig.FindAsync(id))!.ReceivedAt, id));
        Guid[] oldestFirst = [.. expected.OrderBy(x => x.ReceivedAt).ThenBy(x => x.Id).Select(x => x.Id)];
        Assert.Equal(oldestFirst, waiting.Items.Select(x => x.CorrelationId));
        Assert.Equal(2, waiting.Total);
        Assert.Equal([currency], searched.Items.Select(x => x.CorrelationId));
        var group = Assert.Single(groups);
        Assert.Equal((typeof(InvalidOrderException).FullName, "urn:message:MassTransit.Patterns.Tests.Workflow.Messages:PlaceOrder", 3L),
            (group.ExceptionType, group.MessageType, group.Count));
        Assert.Equal([("AwaitingPerson", 2L), ("Discarded", 1L)], counts.OrderBy(c => c.Key).Select(c => (c.Key, c.Value)));
        Assert.Equal((await rig.Client.InspectAsync(quantity)).Version, details!.Version);
        Assert.Null(await store.FindAsync(Guid.NewGuid()));
        Assert.Equal(oldestFirst, await store.IdsAsync(new WorkflowMessageFilter { State = "AwaitingPerson" }, 10));

        await rig.Harness.InactivityTask;
        Assert.Empty(rig.Ledger.Processed);
        Assert.Equal(0, rig.DeadEnds!.Total);
    }
}
