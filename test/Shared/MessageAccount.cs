using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;

namespace MassTransit.Patterns.Testing;

/// <summary>What a place is expected to hold once the test's messages have settled.</summary>
public readonly record struct Expect
{
    Expect(long min, long max, IReadOnlySet<Guid>? ids, string text)
    {
        Min = min;
        Max = max;
        IdSet = ids;
        Text = text;
    }

    /// <summary>The fewest messages the place may hold.</summary>
    public long Min { get; }

    /// <summary>The most messages the place may hold.</summary>
    public long Max { get; }

    /// <summary>When set: exactly these message ids (the place must report ids).</summary>
    public IReadOnlySet<Guid>? IdSet { get; }

    /// <summary>How the expectation reads in a report.</summary>
    public string Text { get; }

    /// <summary>Exactly <paramref name="count"/> messages.</summary>
    public static Expect Exactly(long count) => new(count, count, null, count == 0 ? "empty" : $"{count}");

    /// <summary>Nothing: the place must stay empty.</summary>
    public static Expect Empty => Exactly(0);

    /// <summary>Exactly these message ids (and so their count).</summary>
    public static Expect Ids(IEnumerable<Guid> ids)
    {
        var set = ids.ToHashSet();
        return new Expect(set.Count, set.Count, set, $"{set.Count} by id");
    }

    /// <summary>Between <paramref name="min"/> and <paramref name="max"/> messages.</summary>
    public static Expect Between(long min, long max) => new(min, max, null, $"{min}..{max}");

    /// <summary>Any number: what the test cannot predict (a backlog left when it stopped); the sum over places still binds it.</summary>
    public static Expect Any => new(0, long.MaxValue, null, "any");

    internal bool Holds(PlaceReading reading) =>
        reading.Count >= Min && reading.Count <= Max && (IdSet is null || IdSet.Count == 0 && reading.Count == 0 ||
            (reading.Ids is { } read && read.Count == IdSet.Count && IdSet.SetEquals(read)));
}

/// <summary>
/// One reading of a place: how many messages it holds, their ids where the place can tell, a note for the report, and
/// how old its source's figures may be (statistics refreshed periodically): a settled reading must outlast that.
/// </summary>
public readonly record struct PlaceReading(long Count, IReadOnlyCollection<Guid>? Ids = null, string? Note = null, TimeSpan Staleness = default)
{
    /// <summary>A place that holds these ids.</summary>
    public static PlaceReading Of(IReadOnlyCollection<Guid> ids, string? note = null) => new(ids.Count, ids, note);
}

/// <summary>
/// Thread-safe record of the messages a test's consumer consumed, by message id. A message consumed
/// twice is a duplicate: <see cref="MessageAccount"/> fails on it unless told the place allows it.
/// </summary>
public sealed class ConsumedMessages
{
    readonly ConcurrentDictionary<Guid, int> _byId = new();
    long _withoutId;

    /// <summary>Records one consumption of <paramref name="messageId"/>.</summary>
    public void Record(Guid messageId) => _byId.AddOrUpdate(messageId, 1, (_, n) => n + 1);

    /// <summary>Records one consumption of the message in <paramref name="context"/> (by its message id).</summary>
    public void Record(ConsumeContext context)
    {
        if (context.MessageId is { } id)
            Record(id);
        else
            Interlocked.Increment(ref _withoutId);
    }

    /// <summary>Consumptions recorded, duplicates included.</summary>
    public long Count => _byId.Values.Sum(n => (long)n) + Interlocked.Read(ref _withoutId);

    /// <summary>The distinct message ids consumed.</summary>
    public IReadOnlyCollection<Guid> Ids => _byId.Keys.ToArray();

    /// <summary>Message ids consumed more than once, with how often.</summary>
    public IReadOnlyDictionary<Guid, int> Duplicates => _byId.Where(x => x.Value > 1).ToDictionary(x => x.Key, x => x.Value);

    internal PlaceReading Read() => new(Count, Interlocked.Read(ref _withoutId) == 0 ? Ids : null);
}

/// <summary>
/// Sums a <see cref="Counter{T}"/> of <see cref="long"/> of this process by instrument name, optionally only its measurements
/// with one tag value (so a parallel test's measurements stay out).
/// </summary>
public sealed class InstrumentCount : IDisposable
{
    readonly MeterListener _listener = new();
    long _count;

    public InstrumentCount(string instrument, string? tag = null, object? tagValue = null)
    {
        _listener.InstrumentPublished = (i, l) =>
        {
            if (i.Name == instrument)
                l.EnableMeasurementEvents(i);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (tag is not null)
            {
                var match = false;
                foreach (var t in tags)
                    match |= t.Key == tag && Equals(t.Value, tagValue);
                if (!match)
                    return;
            }
            Interlocked.Add(ref _count, value);
        });
        _listener.Start();
    }

    public long Count => Interlocked.Read(ref _count);

    public void Dispose() => _listener.Dispose();
}

/// <summary>
/// Accounts for every message a test sent across every place it can end: consumed (by message id),
/// a queue, its lane, <c>_error</c>, <c>_skipped</c>, a store, held, refused at the producer... The
/// test records what it sent, declares each place with what it expects there, and
/// <see cref="AssertAllAccountedAsync"/> waits until the places settle with their sum equal to what
/// was sent, every place holding what it should and every place it did not expect anything in
/// (<see cref="Expect.Empty"/>, which transport helpers declare for every sibling queue) empty. A
/// failure lists every place with its count, so it says where the messages went.
/// </summary>
public sealed class MessageAccount : IAsyncDisposable
{
    sealed record Entry(string Name, Func<CancellationToken, Task<PlaceReading>> Read, Expect Expected, bool Implicit, bool IsCopies,
        Func<CancellationToken, Task<string?>>? Explain, Func<ConsumedMessages?>? Consumed, bool AllowDuplicates);

    readonly List<Entry> _places = [];
    readonly ConcurrentDictionary<Guid, byte> _sentIds = new();
    readonly List<(long Count, string What)> _sentCounts = [];
    readonly List<(long Count, string Why)> _copies = [];
    readonly ConcurrentDictionary<string, IAsyncDisposable> _resources = new();
    readonly Lock _gate = new();

    /// <summary>Records a sent message by its id.</summary>
    public MessageAccount Sent(Guid messageId)
    {
        if (!_sentIds.TryAdd(messageId, 0))
            throw new ArgumentException($"message id {messageId} was recorded as sent twice", nameof(messageId));
        return this;
    }

    /// <summary>Records sent messages by their ids.</summary>
    public MessageAccount Sent(IEnumerable<Guid> messageIds)
    {
        foreach (var id in messageIds)
            Sent(id);
        return this;
    }

    /// <summary>Records <paramref name="count"/> messages sent without their ids (a publish that fans out counts once per subscriber).</summary>
    public MessageAccount Sent(long count, string what)
    {
        lock (_gate)
            _sentCounts.Add((count, what));
        return this;
    }

    /// <summary>
    /// Raises what the places must add up to by copies the system makes by design (the ambulance fork's lane copy of an
    /// urgent message), for places that count them together with the originals.
    /// </summary>
    public MessageAccount Copied(long count, string why)
    {
        lock (_gate)
            _copies.Add((count, why));
        return this;
    }

    /// <summary>Messages sent, by id and by count.</summary>
    public long SentCount
    {
        get
        {
            lock (_gate)
                return _sentIds.Count + _sentCounts.Sum(s => s.Count);
        }
    }

    /// <summary>What the places must add up to: sent plus declared copies.</summary>
    public long ExpectedTotal
    {
        get
        {
            lock (_gate)
                return SentCount + _copies.Sum(c => c.Count);
        }
    }

    /// <summary>Declares a place read by <paramref name="read"/>, part of the sum.</summary>
    public MessageAccount Place(string name, Func<CancellationToken, Task<PlaceReading>> read, Expect expected,
        Func<CancellationToken, Task<string?>>? explain = null) =>
        Add(new Entry(name, read, expected, false, false, explain, null, false));

    /// <summary>Declares a place counted in memory (a list the test keeps, a store read synchronously), part of the sum.</summary>
    public MessageAccount Place(string name, Func<long> count, Expect expected) =>
        Place(name, _ => Task.FromResult(new PlaceReading(count())), expected);

    /// <summary>Declares a place whose message ids are known in memory, part of the sum.</summary>
    public MessageAccount Place(string name, Func<IReadOnlyCollection<Guid>> ids, Expect expected) =>
        Place(name, _ => Task.FromResult(PlaceReading.Of(ids())), expected);

    /// <summary>Declares the test's consumer record as a place; a message consumed twice fails the account unless <paramref name="allowDuplicates"/>.</summary>
    public MessageAccount Consumed(ConsumedMessages consumed, Expect expected, string name = "consumed", bool allowDuplicates = false) =>
        Add(new Entry(name, _ => Task.FromResult(consumed.Read()), expected, false, false, null, () => consumed, allowDuplicates));

    /// <summary>
    /// Declares a place of extra copies of messages already accounted elsewhere (duplicates a deduplicating consumer
    /// suppressed): reported and held to <paramref name="expected"/>, but not part of the sum.
    /// </summary>
    public MessageAccount Copies(string name, Func<long> count, Expect expected) =>
        Add(new Entry(name, _ => Task.FromResult(new PlaceReading(count())), expected, false, true, null, null, true));

    /// <summary>
    /// Declares a place the test expects nothing in unless it declares it itself (a sibling queue): an explicit
    /// declaration of the same name, before or after, replaces it.
    /// </summary>
    public MessageAccount ImplicitlyEmpty(string name, Func<CancellationToken, Task<PlaceReading>> read,
        Func<CancellationToken, Task<string?>>? explain = null) =>
        Add(new Entry(name, read, Expect.Empty, true, false, explain, null, false));

    /// <summary>A resource shared by the places of this account (a broker connection), disposed with it.</summary>
    public T Resource<T>(string key, Func<T> create) where T : IAsyncDisposable => (T)_resources.GetOrAdd(key, _ => create());

    MessageAccount Add(Entry place)
    {
        lock (_gate)
        {
            var index = _places.FindIndex(p => p.Name == place.Name);
            if (index < 0)
                _places.Add(place);
            else if (_places[index].Implicit)
                _places[index] = place;
            else if (!place.Implicit)
                throw new ArgumentException($"place '{place.Name}' is declared twice", nameof(place));
        }
        return this;
    }

    sealed record Snapshot(Entry Place, PlaceReading Reading, Exception? Failure);

    /// <summary>
    /// Waits until every place settles (the same readings over consecutive polls, and over the longest lag of a
    /// place's source) with the sum over places equal to what was sent plus declared copies, every place within
    /// its expectation, no message consumed twice, and, where ids are known, no id in two places, none that was not
    /// sent, none missing. Fails at <paramref name="timeout"/> with every place's count.
    /// </summary>
    public async Task AssertAllAccountedAsync(TimeSpan timeout, TimeSpan? pollEvery = null)
    {
        try
        {
            var interval = pollEvery ?? TimeSpan.FromMilliseconds(150);
            var watch = Stopwatch.StartNew();
            Entry[] places;
            lock (_gate)
                places = [.. _places];
            if (places.Length == 0)
                throw new InvalidOperationException("the account declares no place");

            string[]? previous = null;
            var stableSince = TimeSpan.Zero;
            var stablePolls = 0;
            Snapshot[] snapshot;
            List<string> problems;
            while (true)
            {
                using var readTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                snapshot = await Task.WhenAll(places.Select(async p =>
                {
                    try
                    {
                        return new Snapshot(p, await p.Read(readTimeout.Token), null);
                    }
                    catch (Exception e)
                    {
                        return new Snapshot(p, default, e);
                    }
                }));
                problems = Check(snapshot);
                var key = snapshot.Select(s => s.Failure is null ? $"{s.Reading.Count}" : "failed").ToArray();
                if (previous is not null && key.SequenceEqual(previous))
                    stablePolls++;
                else
                {
                    stablePolls = 0;
                    stableSince = watch.Elapsed;
                }
                previous = key;
                var staleness = snapshot.Max(s => s.Reading.Staleness);
                if (problems.Count == 0 && stablePolls >= 2 && watch.Elapsed - stableSince >= staleness)
                {
                    TestContext.Current.TestOutputHelper?.WriteLine($"Accounted for in {watch.Elapsed.TotalSeconds:0.0} s: sent {SentCount}; " +
                        string.Join(", ", snapshot.Where(s => s.Reading.Count > 0).Select(s => $"{s.Place.Name} {s.Reading.Count}")));
                    return;
                }
                if (watch.Elapsed > timeout)
                    break;
                await Task.Delay(interval);
            }

            Assert.Fail(await ReportAsync(snapshot, problems, timeout));
        }
        finally
        {
            await DisposeAsync();
        }
    }

    List<string> Check(Snapshot[] snapshot)
    {
        var problems = new List<string>();
        foreach (var s in snapshot)
        {
            if (s.Failure is not null)
                problems.Add($"{s.Place.Name} could not be read: {s.Failure.GetType().Name}: {s.Failure.Message}");
            else if (!s.Place.Expected.Holds(s.Reading))
                problems.Add(s.Place.Expected.Max == 0
                    ? $"{s.Place.Name} holds {s.Reading.Count}, expected empty"
                    : $"{s.Place.Name} holds {s.Reading.Count}{(s.Place.Expected.IdSet is not null && s.Reading.Ids is null ? " (no ids to compare)" : "")}, expected {s.Place.Expected.Text}");
            if (s.Place.Consumed?.Invoke() is { } consumed && !s.Place.AllowDuplicates && consumed.Duplicates.Count > 0)
                problems.Add($"{s.Place.Name}: {consumed.Duplicates.Count} message(s) consumed more than once: " +
                             string.Join(", ", consumed.Duplicates.Take(5).Select(d => $"{d.Key} x{d.Value}")));
        }

        var counted = snapshot.Where(s => !s.Place.IsCopies).ToArray();
        var sum = counted.Sum(s => s.Reading.Count);
        if (sum != ExpectedTotal)
            problems.Add($"the places hold {sum}, expected {ExpectedTotal}");

        // By id, where places tell their ids.
        var seen = new Dictionary<Guid, string>();
        foreach (var s in counted.Where(s => s.Reading.Ids is not null))
            foreach (var id in s.Reading.Ids!)
            {
                if (seen.TryGetValue(id, out var other))
                    problems.Add($"message {id} is in {other} and in {s.Place.Name}");
                else
                    seen[id] = s.Place.Name;
            }
        lock (_gate)
        {
            if (_sentCounts.Count == 0 && _copies.Count == 0 && !_sentIds.IsEmpty)
            {
                var unknown = seen.Keys.Where(id => !_sentIds.ContainsKey(id)).ToArray();
                if (unknown.Length > 0)
                    problems.Add($"{unknown.Length} message id(s) were not sent: " + string.Join(", ", unknown.Take(5).Select(id => $"{id} in {seen[id]}")));
                // Missing ids are certain only when every non-empty place tells its ids.
                if (counted.All(s => s.Reading.Count == 0 || s.Reading.Ids is not null))
                {
                    var missing = _sentIds.Keys.Where(id => !seen.ContainsKey(id)).ToArray();
                    if (missing.Length > 0)
                        problems.Add($"{missing.Length} sent message id(s) are nowhere: " + string.Join(", ", missing.Take(5)));
                }
            }
        }
        return problems;
    }

    async Task<string> ReportAsync(Snapshot[] snapshot, List<string> problems, TimeSpan timeout)
    {
        var text = new StringBuilder();
        lock (_gate)
        {
            text.Append($"Not every message accounted for within {timeout.TotalSeconds:0.#} s: sent {SentCount}");
            if (!_sentIds.IsEmpty)
                text.Append($" ({_sentIds.Count} by id)");
            foreach (var (count, what) in _sentCounts)
                text.Append($"; {count} {what}");
            foreach (var (count, why) in _copies)
                text.Append($"; + {count} copies: {why}");
        }
        text.AppendLine();
        var width = snapshot.Max(s => s.Place.Name.Length);
        foreach (var s in snapshot)
        {
            var ok = s.Failure is null && s.Place.Expected.Holds(s.Reading);
            text.Append($"  {s.Place.Name.PadRight(width)}  {(s.Failure is null ? s.Reading.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?"),7}")
                .Append($"  expected {s.Place.Expected.Text,-10}{(s.Place.IsCopies ? " (copies, not summed)" : "")}  {(ok ? "ok" : "<-- WRONG")}");
            if (s.Reading.Note is not null)
                text.Append($"  [{s.Reading.Note}]");
            if (!ok && s.Reading.Count > 0 && s.Place.Explain is not null)
            {
                try
                {
                    if (await s.Place.Explain(CancellationToken.None) is { } explanation)
                        text.Append($"  {explanation}");
                }
                catch (Exception e)
                {
                    text.Append($"  (could not look inside: {e.Message})");
                }
            }
            text.AppendLine();
        }
        text.AppendLine($"  {"sum".PadRight(width)}  {snapshot.Where(s => !s.Place.IsCopies).Sum(s => s.Reading.Count),7}  expected {ExpectedTotal}");
        foreach (var problem in problems)
            text.AppendLine($"- {problem}");
        return text.ToString();
    }

    /// <summary>Disposes the resources the places used (called by <see cref="AssertAllAccountedAsync"/>).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var key in _resources.Keys.ToArray())
            if (_resources.TryRemove(key, out var resource))
                await resource.DisposeAsync();
    }
}
