using System.Collections.Concurrent;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Contextual;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Contextual.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Tests.Contextual;

/// <summary>
/// Keys that look alike: one equal to another's sanitized form, two that differ only in case (MassTransit's
/// endpoint names and the in-memory transport's queues ignore case). Each gets a queue of its own; two keys
/// that still map to one key (a hash collision) share its queue, and that is logged.
/// </summary>
public sealed class ContextualKeyCollisionTests
{
    /// <summary>The sanitized form of <c>Zürich/ost #1</c>, written as a key of its own.</summary>
    const string SanitizedLiteral = "Z-rich-ost--1-e94a2dc3";

    static readonly string[] Lookalikes = ["Tenant", "tenant", "Zürich/ost #1", SanitizedLiteral];

    static string Unique(string stem) => $"{stem}-{Guid.NewGuid():N}"[..(stem.Length + 9)];

    /// <summary>Records the pattern's log entries (a factory of its own: nothing to dispose, nothing shared with other tests).</summary>
    sealed class LogRecorder : ILoggerFactory
    {
        public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) =>
            categoryName.StartsWith("MassTransit.Patterns.Contextual", StringComparison.Ordinal) ? new Recorder(Entries) : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        sealed class Recorder(ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> entries) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                entries.Enqueue((logLevel, eventId, formatter(state, exception)));
        }
    }

    [Fact]
    public async Task Keys_differing_in_case_and_a_literal_equal_to_a_sanitized_key_each_get_their_own_queue()
    {
        Assert.Equal(SanitizedLiteral, ContextKey.Normalize("Zürich/ost #1", InvalidContextKeyHandling.Sanitize, 64));
        var queue = Unique("orders");
        var log = new LogRecorder();
        await using var h = await ContextualHarness.StartAsync(queue, _ => { }, s => s.AddSingleton<ILoggerFactory>(log));

        // First sight: each context's first message is consumed on the default queue and has its queue created.
        var number = 0;
        foreach (var context in Lookalikes)
            await h.Send(context, ++number);
        await h.ConsumedAll(number);
        var got = new Dictionary<string, bool>();
        foreach (var context in Lookalikes)
            got[context] = await h.Routing.WaitForQueueAsync(context, ContextualHarness.Timeout);

        // Then five more each.
        for (var round = 0; round < 5; round++)
            foreach (var context in Lookalikes)
                await h.Send(context, ++number);
        await h.ConsumedAll(number);

        var seen = h.Recorder.Seen;
        Assert.Equal(Enumerable.Range(1, number), seen.Select(s => s.Number).Order());
        Assert.All(seen.Where(s => s.Number <= Lookalikes.Length), s => Assert.Equal(queue, s.Queue));
        Assert.Empty(await h.Harness.Published.Settled<Fault<CustomerOrder>>());

        // Where each context's later messages went, and what each queue consumed.
        var later = seen.Where(s => s.Number > Lookalikes.Length).ToArray();
        var where = string.Join("; ", Lookalikes.Select(c => $"'{c}' (queue created: {got[c]}) -> {string.Join(", ", later.Where(s => s.Customer == c).Select(s => s.Queue).Distinct())}"));
        foreach (var context in Lookalikes)
        {
            var queues = later.Where(s => s.Customer == context).Select(s => s.Queue).Distinct().ToArray();
            Assert.True(queues.Length == 1 && queues[0] != queue, $"'{context}' is not on a queue of its own: {where}");
            Assert.Equal(h.Routing.QueueOf(context), queues[0]);
            Assert.Equal(later.Where(s => s.Customer == context).Select(s => s.Number).Order(),
                later.Where(s => s.Queue == queues[0]).Select(s => s.Number).Order());
        }
        Assert.True(Lookalikes.Select(h.Routing.QueueOf).Distinct(StringComparer.OrdinalIgnoreCase).Count() == Lookalikes.Length, $"queues not distinct: {where}");
        Assert.Equal(Lookalikes.Length, h.Routing.ContextQueueCount);
        Assert.DoesNotContain(log.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task Two_contexts_whose_keys_collide_share_one_queue_and_it_is_logged()
    {
        // Both sanitize to "t" and 11 dashes, and their 32-bit hashes are equal (found by search): one key.
        const string First = "t/)?];][;)((", Second = "t/]@}#},!@;*";
        var key = ContextKey.Normalize(First, InvalidContextKeyHandling.Sanitize, 64);
        Assert.Equal(key, ContextKey.Normalize(Second, InvalidContextKeyHandling.Sanitize, 64));

        var queue = Unique("orders");
        var log = new LogRecorder();
        await using var h = await ContextualHarness.StartAsync(queue, _ => { }, s => s.AddSingleton<ILoggerFactory>(log));
        await h.Send(First, 1);
        await h.ConsumedAll(1);
        Assert.True(await h.Routing.WaitForQueueAsync(First, ContextualHarness.Timeout), "the first context got its queue");
        await h.Send(First, 2);
        await h.Send(Second, 3);
        await h.Send(Second, 4);
        await h.ConsumedAll(4);

        var seen = h.Recorder.Seen;
        Assert.Equal([1, 2, 3, 4], seen.Select(s => s.Number).Order());
        Assert.Equal(queue, seen.Single(s => s.Number == 1).Queue);
        var shared = h.Routing.QueueOf(First);
        Assert.Equal(shared, h.Routing.QueueOf(Second));
        Assert.All(seen.Where(s => s.Number > 1), s => Assert.Equal(shared, s.Queue));

        var warnings = log.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.Message).ToArray();
        var warning = Assert.Single(warnings);
        Assert.Contains(First, warning, StringComparison.Ordinal);
        Assert.Contains(Second, warning, StringComparison.Ordinal);
        Assert.Contains(shared, warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_context_whose_queue_name_clashes_with_a_bucket_stays_on_the_default_queue_and_it_is_logged()
    {
        // With this template the context "bucket.0" is given the queue that bucket 0 would have.
        var queue = Unique("orders");
        var log = new LogRecorder();
        await using var h = await ContextualHarness.StartAsync(queue, q =>
        {
            q.Options.QueueNameTemplate = "{queue}.{context}";
            q.Options.MaxContextQueues = 1;
            q.Options.BucketCount = 1;
        }, s => s.AddSingleton<ILoggerFactory>(log));
        await h.Send("bucket.0", 1);
        await h.ConsumedAll(1);
        Assert.True(await h.Routing.WaitForQueueAsync("bucket.0", ContextualHarness.Timeout), "bucket.0 got its queue");
        Assert.Equal($"{queue}.bucket.0", h.Routing.QueueOf("bucket.0"));

        // "y" is beyond the cap: its bucket's name is taken by a context queue, so it stays on the default queue.
        await h.Send("y", 2);
        await Eventually.True(() => log.Entries.Any(e => e.Level == LogLevel.Warning), ContextualHarness.Timeout, "the clash logged");
        await h.Send("y", 3);
        await h.Send("bucket.0", 4);
        await h.ConsumedAll(4);

        var seen = h.Recorder.Seen;
        Assert.Equal([1, 2, 3, 4], seen.Select(s => s.Number).Order());
        Assert.All(seen.Where(s => s.Customer == "y"), s => Assert.Equal(queue, s.Queue));
        Assert.Equal($"{queue}.bucket.0", seen.Single(s => s.Number == 4).Queue);
        Assert.Equal(queue, h.Routing.QueueOf("y"));
        var warning = Assert.Single(log.Entries, e => e.Level >= LogLevel.Warning).Message;
        Assert.Contains("Context y ", warning, StringComparison.Ordinal);
        Assert.Contains($"{queue}.bucket.0", warning, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("acme", "acme")]
    [InlineData("acme_1.2-x", "acme_1.2-x")]
    [InlineData("0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950e")]
    public void Lowercase_keys_that_do_not_look_sanitized_are_used_as_they_are(string value, string expected) =>
        Assert.Equal(expected, ContextKey.Normalize(value, InvalidContextKeyHandling.Sanitize, 64));

    [Theory]
    [InlineData(InvalidContextKeyHandling.Sanitize)]
    [InlineData(InvalidContextKeyHandling.DefaultQueue)]
    public void Keys_alike_but_for_case_or_a_hash_suffix_map_to_keys_distinct_even_ignoring_case(InvalidContextKeyHandling handling)
    {
        string[] values = ["tenant", "Tenant", "TENANT", "tenant-e94a2dc3", "Tenant-e94a2dc3", "tenant-E94A2DC3", "Z-rich-ost--1-e94a2dc3", "acme", "Acme"];
        var keys = values.Select(v => ContextKey.Normalize(v, handling, 64)).ToArray();
        Assert.All(keys, k => Assert.True(k is not null && ContextKey.IsValid(k, 64), k));
        Assert.Equal(values.Length, keys.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        if (handling == InvalidContextKeyHandling.Sanitize)
        {
            var sanitized = ContextKey.Normalize("Zürich/ost #1", handling, 64);
            Assert.DoesNotContain(sanitized, keys, StringComparer.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void The_shortest_allowed_key_length_still_fits_a_hash_suffix()
    {
        var options = new ContextualQueueOptions { DefaultQueueName = "orders" };
        var failures = options.CreateValidator("o").Failures;
        Assert.Empty(failures);
        var shortest = Enumerable.Range(1, 200).First(n =>
        {
            options.MaxKeyLength = n;
            return !options.CreateValidator("o").Failures.Any();
        });
        foreach (var value in new[] { "a/b", "Tenant", new string('x', 300), "x-e94a2dc3" })
        {
            var key = ContextKey.Normalize(value, InvalidContextKeyHandling.Sanitize, shortest);
            Assert.True(key is not null && ContextKey.IsValid(key, shortest), $"'{value}' at MaxKeyLength {shortest}: '{key}'");
        }
    }
}
