using MassTransit.Patterns.Supervisor;

namespace MassTransit.Patterns.Tests.Supervisor;

/// <summary>The gate whose limit changes at run time: growing admits waiters, shrinking never cancels admitted work.</summary>
public sealed class ElasticConcurrencyLimitTests
{
    [Fact]
    public async Task Raising_the_limit_admits_waiters_at_once_in_arrival_order()
    {
        var gate = new ElasticConcurrencyLimit(1);
        await gate.WaitAsync();
        var second = gate.WaitAsync();
        var third = gate.WaitAsync();
        var fourth = gate.WaitAsync();
        Assert.False(second.IsCompleted);
        Assert.Equal(3, gate.Waiting);

        gate.SetLimit(3);

        await second.WaitAsync(TimeSpan.FromSeconds(5));
        await third.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(fourth.IsCompleted);
        Assert.Equal((3, 1), (gate.Active, gate.Waiting));
    }

    [Fact]
    public async Task Lowering_the_limit_lets_admitted_work_finish_and_admits_nobody_until_below_it()
    {
        var gate = new ElasticConcurrencyLimit(4);
        for (var i = 0; i < 4; i++)
            await gate.WaitAsync();
        var waiter = gate.WaitAsync();

        gate.SetLimit(2);

        Assert.Equal(4, gate.Active);
        gate.Release();
        gate.Release();
        Assert.False(waiter.IsCompleted, "two still active: at the new limit, nobody enters");
        gate.Release();
        await waiter.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, gate.Active);
        Assert.Equal(4, gate.PeakActive);
    }

    [Fact]
    public async Task Any_sequence_of_changes_keeps_the_count_exact()
    {
        var gate = new ElasticConcurrencyLimit(1);
        foreach (var limit in new[] { 8, 2, 5, 1, 9, 3 })
            gate.SetLimit(limit);
        var admitted = new List<Task>();
        for (var i = 0; i < 10; i++)
            admitted.Add(gate.WaitAsync());

        Assert.Equal(3, admitted.Count(t => t.IsCompleted));
        Assert.Equal(7, gate.Waiting);
        await Task.WhenAll(admitted.Where(t => t.IsCompleted));
    }

    [Fact]
    public async Task A_cancelled_waiter_leaves_the_line_and_does_not_take_a_slot()
    {
        var gate = new ElasticConcurrencyLimit(1);
        await gate.WaitAsync();
        using var cancel = new CancellationTokenSource();
        var cancelled = gate.WaitAsync(cancel.Token);
        var next = gate.WaitAsync();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(1, gate.Waiting);
        gate.Release();
        await next.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal((1, 0), (gate.Active, gate.Waiting));
    }

    [Fact]
    public void Releasing_more_than_was_admitted_is_an_error()
    {
        var gate = new ElasticConcurrencyLimit(2);

        Assert.Throws<InvalidOperationException>(gate.Release);
    }
}
