using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Tests.Contextual;

/// <summary>Contextual queues under the test harness: creation on demand, static contexts, the cap and buckets, retirement, bad keys.</summary>
public sealed class ContextualQueueTests
{
    static string Unique(string stem) => $"{stem}-{Guid.NewGuid():N}"[..(stem.Length + 9)];

    static void AssertEachOnce(IReadOnlyList<Consumed> seen, int count)
    {
        Assert.Equal(count, seen.Count);
        Assert.Equal(Enumerable.Range(1, count), seen.Select(s => s.Number).Order());
    }

    [Fact]
    public async Task A_new_context_lands_on_the_default_queue_first_then_gets_its_own_queue()
    {
        var queue = Unique("orders");
        await using var h = await ContextualHarness.StartAsync(queue, _ => { });

        await h.Send("acme", 1);
        await h.ConsumedAll(1);
        Assert.Equal(queue, h.Recorder.Seen[0].Queue);
        Assert.True(await h.Routing.WaitForQueueAsync("acme", ContextualHarness.Timeout), "acme got a queue");

        for (var i = 2; i <= 6; i++)
            await h.Send("acme", i);
        await h.ConsumedAll(6);
        AssertEachOnce(h.Recorder.Seen, 6);
        Assert.All(h.Recorder.Seen.Where(s => s.Number > 1), s => Assert.Equal($"{queue}.ctx.acme", s.Queue));
        Assert.Equal(1, h.Routing.ContextQueueCount);
    }

    [Fact]
    public async Task A_static_context_has_its_queue_from_the_start()
    {
        var queue = Unique("orders");
        await using var h = await ContextualHarness.StartAsync(queue, q => q.Static("vip"));
        await Eventually.True(() => h.Routing.Queues.Any(x => x.IsStatic && x.State == ContextQueueState.Active), ContextualHarness.Timeout, "static queue active");

        await h.Send("vip", 1);
        await h.ConsumedAll(1);
        Assert.Equal($"{queue}.ctx.vip", h.Recorder.Seen[0].Queue);
    }

    [Fact]
    public async Task Contexts_beyond_the_cap_share_bucket_queues_and_nothing_is_lost()
    {
        var queue = Unique("orders");
        await using var h = await ContextualHarness.StartAsync(queue, q =>
        {
            q.Options.MaxContextQueues = 2;
            q.Options.BucketCount = 2;
        });

        var customers = Enumerable.Range(1, 6).Select(i => $"c{i}").ToArray();
        var n = 0;
        foreach (var customer in customers)
        {
            // One at a time, so the cap decides in a known order: c1 and c2 get their own queues.
            await h.Send(customer, ++n);
            Assert.True(await h.Routing.WaitForQueueAsync(customer, ContextualHarness.Timeout), $"{customer} got a queue or a bucket");
        }
        foreach (var customer in customers)
            await h.Send(customer, ++n);
        await h.ConsumedAll(n);

        AssertEachOnce(h.Recorder.Seen, n);
        var queues = h.Routing.Queues;
        Assert.Equal(2, queues.Count(x => !x.IsBucket));
        Assert.InRange(queues.Count(x => x.IsBucket), 1, 2);
        Assert.Equal(new[] { "c1", "c2" }, queues.Where(x => !x.IsBucket).SelectMany(x => x.Contexts).Order());
        Assert.Equal(new[] { "c3", "c4", "c5", "c6" }, queues.Where(x => x.IsBucket).SelectMany(x => x.Contexts).Order());
        foreach (var customer in customers.Skip(2))
            Assert.StartsWith($"{queue}.bucket.", h.Recorder.Seen.Single(s => s.Number > 6 && s.Customer == customer).Queue);
    }

    [Fact]
    public async Task Without_buckets_contexts_beyond_the_cap_stay_on_the_default_queue()
    {
        var queue = Unique("orders");
        await using var h = await ContextualHarness.StartAsync(queue, q => q.Options.MaxContextQueues = 1);

        await h.Send("first", 1);
        Assert.True(await h.Routing.WaitForQueueAsync("first", ContextualHarness.Timeout));
        await h.Send("second", 2);
        await h.ConsumedAll(2);
        Assert.False(await h.Routing.WaitForQueueAsync("second", TimeSpan.FromMilliseconds(300)), "second must get no queue");
        await h.Send("second", 3);
        await h.ConsumedAll(3);
        Assert.Equal(queue, h.Recorder.Seen.Single(s => s.Number == 3).Queue);
        Assert.Equal(1, h.Routing.ContextQueueCount);
    }

    [Fact]
    public async Task Retiring_a_queue_with_a_backlog_drains_it_first_and_loses_nothing()
    {
        var queue = Unique("orders");
        await using var h = await ContextualHarness.StartAsync(queue, q => q.Options.ConcurrentMessageLimit = 2);

        await h.Send("acme", 1);
        Assert.True(await h.Routing.WaitForQueueAsync("acme", ContextualHarness.Timeout));
        await h.ConsumedAll(1);

        h.Recorder.Hold();
        for (var i = 2; i <= 21; i++)
            await h.Send("acme", i);
        var retire = h.Routing.RetireAsync("acme");
        // While it drains, later messages go to the default queue.
        for (var i = 22; i <= 41; i++)
            await h.Send("acme", i);
        Assert.False(retire.IsCompleted, "retirement waits for the backlog");
        h.Recorder.Release();

        Assert.True(await retire.WaitAsync(ContextualHarness.Timeout), "retired");
        await h.ConsumedAll(41);
        AssertEachOnce(h.Recorder.Seen, 41);
        Assert.All(h.Recorder.Seen.Where(s => s.Number is >= 2 and <= 21), s => Assert.Equal($"{queue}.ctx.acme", s.Queue));
        Assert.All(h.Recorder.Seen.Where(s => s.Number >= 22), s => Assert.Equal(queue, s.Queue));
    }

    [Fact]
    public async Task An_idle_queue_is_retired_and_the_context_gets_a_new_one_when_it_comes_back()
    {
        var queue = Unique("orders");
        await using var h = await ContextualHarness.StartAsync(queue, q => q.Options.IdleTimeout = TimeSpan.FromMilliseconds(300));

        await h.Send("acme", 1);
        Assert.True(await h.Routing.WaitForQueueAsync("acme", ContextualHarness.Timeout));
        for (var i = 2; i <= 11; i++)
            await h.Send("acme", i);
        await h.ConsumedAll(11);
        await Eventually.True(() => h.Routing.ContextQueueCount == 0, ContextualHarness.Timeout, "the idle queue is retired");

        await h.Send("acme", 12);
        Assert.True(await h.Routing.WaitForQueueAsync("acme", ContextualHarness.Timeout), "acme got a queue again");
        await h.Send("acme", 13);
        await h.ConsumedAll(13);
        AssertEachOnce(h.Recorder.Seen, 13);
        Assert.Equal($"{queue}.ctx.acme", h.Recorder.Seen.Single(s => s.Number == 13).Queue);
    }

    [Fact]
    public async Task Bad_keys_never_crash_the_producer_and_are_sanitized()
    {
        var queue = Unique("orders");
        await using var h = await ContextualHarness.StartAsync(queue, _ => { });
        var longKey = new string('x', 500);

        await h.Send(null, 1);
        await h.Send("", 2);
        await h.Send("   ", 3);
        await h.Send("a/b c#ü", 4);
        await h.Send(longKey, 5);
        await h.Send("any", 6, explode: true);
        await h.ConsumedAll(6);
        AssertEachOnce(h.Recorder.Seen, 6);
        Assert.All(h.Recorder.Seen, s => Assert.Equal(queue, s.Queue));

        Assert.True(await h.Routing.WaitForQueueAsync("a/b c#ü", ContextualHarness.Timeout), "the sanitized key got a queue");
        Assert.True(await h.Routing.WaitForQueueAsync(longKey, ContextualHarness.Timeout), "the long key got a queue");
        await h.Send("a/b c#ü", 7);
        await h.ConsumedAll(7);
        var sanitized = h.Recorder.Seen.Single(s => s.Number == 7).Queue;
        Assert.Matches("^[A-Za-z0-9._-]+$", sanitized);
        Assert.All(h.Routing.Queues, q => Assert.True(q.QueueName.Length <= queue.Length + 5 + 64, q.QueueName));
        Assert.Equal(2, h.Routing.ContextQueueCount);
    }

    [Fact]
    public async Task Invalid_keys_can_be_sent_to_the_default_queue_instead()
    {
        var queue = Unique("orders");
        await using var h = await ContextualHarness.StartAsync(queue, q => q.Options.InvalidKeys = InvalidContextKeyHandling.DefaultQueue);

        await h.Send("a/b", 1);
        await h.Send("fine", 2);
        await h.ConsumedAll(2);
        Assert.True(await h.Routing.WaitForQueueAsync("fine", ContextualHarness.Timeout));
        await h.Send("a/b", 3);
        await h.ConsumedAll(3);
        Assert.Equal(queue, h.Recorder.Seen.Single(s => s.Number == 3).Queue);
        Assert.Equal(1, h.Routing.ContextQueueCount);
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("acme", "acme")]
    [InlineData("acme_1.2-x", "acme_1.2-x")]
    public void Valid_and_empty_keys_normalize_as_expected(string? value, string? expected) =>
        Assert.Equal(expected, ContextKey.Normalize(value, InvalidContextKeyHandling.Sanitize, 64));

    [Fact]
    public void Keys_that_sanitize_alike_stay_apart()
    {
        var a = ContextKey.Normalize("a/b", InvalidContextKeyHandling.Sanitize, 64);
        var b = ContextKey.Normalize("a b", InvalidContextKeyHandling.Sanitize, 64);
        Assert.NotEqual(a, b);
        Assert.True(ContextKey.IsValid(a, 64) && ContextKey.IsValid(b, 64));
        Assert.Null(ContextKey.Normalize("a/b", InvalidContextKeyHandling.DefaultQueue, 64));
    }

    [Fact]
    public async Task A_bad_option_fails_bus_start_naming_it()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ContextualHarness.StartAsync(Unique("orders"), q => q.Options.MaxContextQueues = -1));
        Assert.Contains("MaxContextQueues", error.ToString());
    }
}
