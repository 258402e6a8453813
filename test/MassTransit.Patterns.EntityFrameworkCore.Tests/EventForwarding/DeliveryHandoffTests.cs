using System.Collections.Concurrent;
using System.Data.Common;
using System.Text.RegularExpressions;
using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding.Messages;
using MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas;
using MassTransit.Patterns.Testing;
using MassTransit.Serialization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.EventForwarding;

/// <summary>
/// Committed outbox rows are handed to the delivery service in memory: it sends them without reading
/// them back, and the table stays the source of truth (a periodic or requested read of the table
/// delivers what a stopped process, a rolled-back handler or a failed send left there), each row once.
/// </summary>
[Collection(ForwardingMetrics.Collection)]
public sealed partial class DeliveryHandoffTests(ITestOutputHelper output)
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>Records the statements a DbContext sends: which of them read the outbox table.</summary>
    sealed partial class OutboxStatements : DbCommandInterceptor
    {
        readonly ConcurrentQueue<string> _statements = new();

        // "ForwardingOutbox" quoted (not "ForwardingOutboxLease").
        [GeneratedRegex("^\\s*SELECT\\b[\\s\\S]*\"ForwardingOutbox\"", RegexOptions.IgnoreCase)]
        private static partial Regex OutboxSelect();

        public IReadOnlyList<string> OutboxReads => _statements.Where(s => OutboxSelect().IsMatch(s)).ToList();

        public void Reset() => _statements.Clear();

        public override InterceptionResult<DbDataReader> ReaderExecuting(DbCommand command, CommandEventData eventData, InterceptionResult<DbDataReader> result)
        {
            _statements.Enqueue(command.CommandText);
            return result;
        }

        public override ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData eventData,
            InterceptionResult<DbDataReader> result, CancellationToken cancellationToken = default)
        {
            _statements.Enqueue(command.CommandText);
            return ValueTask.FromResult(result);
        }

        public override ValueTask<InterceptionResult<object>> ScalarExecutingAsync(DbCommand command, CommandEventData eventData,
            InterceptionResult<object> result, CancellationToken cancellationToken = default)
        {
            _statements.Enqueue(command.CommandText);
            return ValueTask.FromResult(result);
        }
    }

    /// <summary>
    /// Sees the outbox's deliveries to the broker (a <see cref="SerializedMessageBody"/> sent by the delivery
    /// service): holds them all until <see cref="Release"/> or until the send is cancelled, or fails chosen
    /// attempts (a failure the send policy does not repeat, so the delivery fails at once).
    /// </summary>
    sealed class Deliveries(bool hold = false, int failAttempt = 0, int holdFrom = 1) : ISendObserver
    {
        readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
        int _attempts;

        public void Release() => _released.TrySetResult();

        public int Attempts => Volatile.Read(ref _attempts);

        public async Task PreSend<T>(SendContext<T> context)
            where T : class
        {
            if (context.Message is not SerializedMessageBody)
                return;
            var attempt = Interlocked.Increment(ref _attempts);
            if (hold && attempt >= holdFrom)
                await _released.Task.WaitAsync(context.CancellationToken);
            if (attempt == failAttempt)
                throw new NotSupportedException($"the broker refused delivery attempt {attempt} (test)");
        }

        public Task PostSend<T>(SendContext<T> context)
            where T : class =>
            Task.CompletedTask;

        public Task SendFault<T>(SendContext<T> context, Exception exception)
            where T : class =>
            Task.CompletedTask;
    }

    static OutboxDeliveryService<ForwardingDb> Service(ForwardingRig rig) => rig.Services.GetRequiredService<OutboxDeliveryService<ForwardingDb>>();

    static async Task<OutboxDeliveryService<ForwardingDb>> SweptOnceAsync(ForwardingRig rig)
    {
        var service = Service(rig);
        await Eventually.True(() => service.HoldsLease && service.TableRounds >= 1, Wait, "the delivery service takes the lease and reads the table once");
        return service;
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Rows_a_consumer_committed_are_delivered_without_reading_the_outbox_table_between_two_sweeps(Store store)
    {
        const int messages = 20, events = 2;
        using var metrics = new ForwardingMetrics();
        var statements = new OutboxStatements();
        var counter = new DbRoundTripCounter();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database,
            outbox: o =>
            {
                o.DeliveryInterval = TimeSpan.FromMinutes(10);
                o.MaxDeliveryBackoff = TimeSpan.FromMinutes(10);
                o.BacklogSampleInterval = TimeSpan.FromHours(1);
            },
            configureServices: s => s.ConfigureDbContext<ForwardingDb>(o => o.AddInterceptors(statements, counter)));
        var service = await SweptOnceAsync(rig);
        var sweeps = service.TableRounds;
        statements.Reset();
        counter.Reset();

        var ids = new List<(Guid MessageId, Guid EffectId)>();
        for (var i = 0; i < messages; i++)
        {
            // One at a time, as a trickle: each message's rows are delivered on their own.
            var (messageId, effectId) = (NewId.NextGuid(), NewId.NextGuid());
            ids.Add((messageId, effectId));
            await rig.SendAsync(new ApplyEffect(effectId, Forward: events), messageId);
            await Eventually.True(() => rig.Forwarded.For(effectId).Count >= events, Wait, $"message {i}'s events are delivered");
        }
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "delivered rows are removed");

        Assert.Empty(statements.OutboxReads);
        Assert.Equal(sweeps, service.TableRounds);
        foreach (var (messageId, effectId) in ids)
        {
            Assert.Equal(1, rig.Received.Count(messageId, "consumed"));
            Assert.Equal(1, (await rig.EffectAsync(effectId))!.Count);
            Assert.Equal([0, 1], rig.Forwarded.For(effectId).Select(f => f.Index));
        }
        Assert.Equal(messages * events, rig.Forwarded.Received.Select(r => r.MessageId).Distinct().Count());
        Assert.Equal(messages * events, rig.Forwarded.Received.Count);
        Assert.Equal(messages * events, metrics.Sum("outbox.handed_off"));
        Assert.Equal(0, metrics.Sum("outbox.swept"));
        output.WriteLine($"{store}: {counter.RoundTrips / (double)messages:0.00} round trips and {counter.Commits / (double)messages:0.00} commits per message " +
            $"({counter.Commands} commands) with {events} events each, delivered from memory");
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task Rows_handed_to_a_delivery_service_that_stopped_before_sending_are_delivered_once_from_the_table_by_the_next_holder(Store store)
    {
        const int messages = 10, events = 2;
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        var held = new Deliveries(hold: true);
        var first = await ForwardingRig.StartAsync(database, configureServices: s => s.AddSendObserver(_ => held));
        var firstForwarded = first.Forwarded;
        var ids = new List<(Guid MessageId, Guid EffectId)>();
        try
        {
            await SweptOnceAsync(first);
            for (var i = 0; i < messages; i++)
            {
                var (messageId, effectId) = (NewId.NextGuid(), NewId.NextGuid());
                ids.Add((messageId, effectId));
                await first.SendAsync(new ApplyEffect(effectId, Forward: events), messageId);
            }
            await Eventually.True(() => ids.All(x => first.Received.Count(x.MessageId, "consumed") == 1), Wait, "every message is consumed and committed");
            await Eventually.True(async () => await first.OutboxCountAsync() == messages * events, Wait, "every message's rows are committed");
            await Eventually.True(() => held.Attempts >= 1, Wait, "the delivery service started sending the handed rows");
        }
        finally
        {
            // The process stops with its handed rows in memory and their sends unconfirmed.
            await first.DisposeAsync();
        }
        Assert.Empty(firstForwarded.Received);
        Assert.Equal(messages * events, await database.Read(db => db.Set<OutboxEntry>().CountAsync()));
        Assert.Equal(0, metrics.Sum("outbox.handed_off"));

        await using var second = await ForwardingRig.StartAsync(database);
        await Eventually.True(() => second.Forwarded.Received.Count >= messages * events, Wait, "the next lease holder delivers every row from the table");
        await Eventually.True(async () => await second.OutboxCountAsync() == 0, Wait, "delivered rows are removed");

        foreach (var (_, effectId) in ids)
        {
            Assert.Equal(1, (await second.EffectAsync(effectId))!.Count);
            Assert.Equal([0, 1], second.Forwarded.For(effectId).Select(f => f.Index));
        }
        Assert.Equal(messages * events, second.Forwarded.Received.Count);
        Assert.Equal(messages * events, second.Forwarded.Received.Select(r => r.MessageId).Distinct().Count());
        Assert.Empty(firstForwarded.Received);
        Assert.Equal(messages * events, metrics.Sum("outbox.swept"));
        Assert.Equal(messages * events, metrics.Sum("outbox.delivered"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_stop_in_the_middle_of_a_group_deletes_what_was_confirmed_so_the_next_holder_sends_only_the_rest(Store store)
    {
        const int events = 3;
        await using var database = await ForwardingDatabase.CreateAsync(store);
        // The group's first event is confirmed; its second is held until the stop cancels it.
        var held = new Deliveries(hold: true, holdFrom: 2);
        var first = await ForwardingRig.StartAsync(database, configureServices: s => s.AddSendObserver(_ => held));
        var (firstForwarded, firstReceived) = (first.Forwarded, first.Received);
        var (messageId, effectId) = (NewId.NextGuid(), NewId.NextGuid());
        try
        {
            await SweptOnceAsync(first);
            await first.SendAsync(new ApplyEffect(effectId, Forward: events), messageId);
            await Eventually.True(() => held.Attempts >= 2 && firstForwarded.For(effectId).Count >= 1, Wait, "the first event is delivered and the second held");
        }
        finally
        {
            await first.DisposeAsync();
        }
        Assert.Equal(events - 1, await database.Read(db => db.Set<OutboxEntry>().CountAsync()));

        await using var second = await ForwardingRig.StartAsync(database);
        await Eventually.True(() => second.Forwarded.For(effectId).Count >= events - 1, Wait, "the next holder delivers the rest");
        await Eventually.True(async () => await second.OutboxCountAsync() == 0, Wait, "delivered rows are removed");

        Assert.Equal([0], firstForwarded.For(effectId).Select(f => f.Index));
        Assert.Equal([1, 2], second.Forwarded.For(effectId).Select(f => f.Index));
        Assert.Equal(events, firstForwarded.Received.Concat(second.Forwarded.Received).Select(r => r.MessageId).Distinct().Count());
        Assert.Equal(1, firstReceived.Count(messageId, "consumed"));
        Assert.Equal(1, (await second.EffectAsync(effectId))!.Count);
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task An_API_handler_event_saved_inside_its_own_transaction_is_delivered_only_when_that_transaction_commits(Store store)
    {
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database);
        var service = await SweptOnceAsync(rig);
        var (rolledBack, committed, autocommitted) = (NewId.NextGuid(), NewId.NextGuid(), NewId.NextGuid());

        await using (var scope = rig.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ForwardingDb>();
            var publish = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Effects.Add(new Effect { EffectId = rolledBack, Count = 1 });
            await publish.Publish(new EffectForwarded(rolledBack, 0));
            await db.SaveChangesAsync();
            await transaction.RollbackAsync();
        }

        await using (var scope = rig.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ForwardingDb>();
            var publish = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Effects.Add(new Effect { EffectId = committed, Count = 1 });
            await publish.Publish(new EffectForwarded(committed, 0));
            await db.SaveChangesAsync();
            await transaction.CommitAsync();
        }

        await using (var scope = rig.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ForwardingDb>();
            var publish = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
            db.Effects.Add(new Effect { EffectId = autocommitted, Count = 1 });
            await publish.Publish(new EffectForwarded(autocommitted, 0));
            await publish.Publish(new EffectForwarded(autocommitted, 1));
            await db.SaveChangesAsync();
        }

        await Eventually.True(() => rig.Forwarded.For(committed).Count >= 1 && rig.Forwarded.For(autocommitted).Count >= 2, Wait,
            "the committed handlers' events are delivered");
        // Whatever was handed over before is delivered by now or never: two more rounds that read the table ran since.
        var sweeps = service.TableRounds;
        await Eventually.True(() => service.TableRounds >= sweeps + 2, Wait, "two more table rounds run");
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "delivered rows are removed");

        Assert.Empty(rig.Forwarded.For(rolledBack));
        Assert.Null(await rig.EffectAsync(rolledBack));
        Assert.Single(rig.Forwarded.For(committed));
        Assert.Equal([0, 1], rig.Forwarded.For(autocommitted).Select(f => f.Index));
        Assert.Equal(3, rig.Forwarded.Received.Count);
        Assert.Equal(3, rig.Forwarded.Received.Select(r => r.MessageId).Distinct().Count());
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task An_API_handler_event_its_SaveChanges_committed_is_handed_over_without_a_read_of_the_table(Store store)
    {
        using var metrics = new ForwardingMetrics();
        var statements = new OutboxStatements();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        await using var rig = await ForwardingRig.StartAsync(database,
            outbox: o =>
            {
                o.DeliveryInterval = TimeSpan.FromMinutes(10);
                o.MaxDeliveryBackoff = TimeSpan.FromMinutes(10);
                o.BacklogSampleInterval = TimeSpan.FromHours(1);
            },
            configureServices: s => s.ConfigureDbContext<ForwardingDb>(o => o.AddInterceptors(statements)));
        var service = await SweptOnceAsync(rig);
        var sweeps = service.TableRounds;
        statements.Reset();
        var effectId = NewId.NextGuid();

        await using (var scope = rig.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ForwardingDb>();
            var publish = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
            db.Effects.Add(new Effect { EffectId = effectId, Count = 1 });
            await publish.Publish(new EffectForwarded(effectId, 0));
            await publish.Publish(new EffectForwarded(effectId, 1));
            await db.SaveChangesAsync();
            // A second save in the same scope continues the group.
            await publish.Publish(new EffectForwarded(effectId, 2));
            await db.SaveChangesAsync();
        }

        await Eventually.True(() => rig.Forwarded.For(effectId).Count >= 3, Wait, "the handler's events are delivered");
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "delivered rows are removed");
        Assert.Equal([0, 1, 2], rig.Forwarded.For(effectId).Select(f => f.Index));
        Assert.Equal(3, rig.Forwarded.Received.Select(r => r.MessageId).Distinct().Count());
        Assert.Empty(statements.OutboxReads);
        Assert.Equal(sweeps, service.TableRounds);
        Assert.Equal(3, metrics.Sum("outbox.handed_off"));
        Assert.Equal(0, metrics.Sum("outbox.swept"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task A_handed_row_that_fails_stops_its_group_and_the_table_read_delivers_the_rest_in_order_once(Store store)
    {
        const int events = 5;
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        // The third delivery (the group's Index 2) fails once; its group is delivered one row at a time.
        var deliveries = new Deliveries(failAttempt: 3);
        await using var rig = await ForwardingRig.StartAsync(database,
            outbox: o => o.DeliveryInterval = TimeSpan.FromSeconds(3),
            configureServices: s => s.AddSendObserver(_ => deliveries));
        await SweptOnceAsync(rig);
        var (messageId, effectId) = (NewId.NextGuid(), NewId.NextGuid());

        await rig.SendAsync(new ApplyEffect(effectId, Forward: events), messageId);

        await Eventually.True(() => rig.Forwarded.For(effectId).Count >= events, Wait, "every event is delivered");
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "delivered rows are removed");
        Assert.Equal(Enumerable.Range(0, events), rig.Forwarded.For(effectId).Select(f => f.Index));
        Assert.Equal(events, rig.Forwarded.Received.Select(r => r.MessageId).Distinct().Count());
        Assert.Equal(1, rig.Received.Count(messageId, "consumed"));
        Assert.Equal(1, (await rig.EffectAsync(effectId))!.Count);
        Assert.Equal(events + 1, deliveries.Attempts);
        Assert.Equal(1, metrics.Sum("outbox.delivery_failures"));
        // Index 0 and 1 from memory; 2 failed there, so 2, 3 and 4 came from the table, in order.
        Assert.Equal(2, metrics.Sum("outbox.handed_off"));
        Assert.Equal(3, metrics.Sum("outbox.swept"));
    }

    [Theory]
    [InlineData(Store.Sqlite)]
    [InlineData(Store.PostgreSql)]
    public async Task When_more_is_handed_over_than_the_queue_holds_the_table_read_delivers_the_rest_each_row_once_in_order(Store store)
    {
        const int messages = 40, events = 3;
        using var metrics = new ForwardingMetrics();
        await using var database = await ForwardingDatabase.CreateAsync(store);
        // One group per round and a queue of 4 groups; the first delivery is held until all 40 messages
        // committed, so the queue overflows. No periodic read of the table: only the overflow asks for one.
        var held = new Deliveries(hold: true);
        await using var rig = await ForwardingRig.StartAsync(database,
            outbox: o =>
            {
                o.DeliveryBatchSize = 1;
                o.DeliveryInterval = TimeSpan.FromMinutes(10);
                o.MaxDeliveryBackoff = TimeSpan.FromMinutes(10);
            },
            configureServices: s => s.AddSendObserver(_ => held));
        await SweptOnceAsync(rig);
        var ids = Enumerable.Range(0, messages).Select(_ => (MessageId: NewId.NextGuid(), EffectId: NewId.NextGuid())).ToList();

        await Task.WhenAll(ids.Select(x => rig.SendAsync(new ApplyEffect(x.EffectId, Forward: events), x.MessageId)));
        await Eventually.True(() => ids.All(x => rig.Received.Count(x.MessageId, "consumed") == 1), Wait, "every message is consumed");
        await Eventually.True(async () => await rig.OutboxCountAsync() == messages * events, Wait, "every message's rows are committed");
        await Eventually.True(() => held.Attempts >= 1, Wait, "the first delivery is held");
        Assert.Equal(1, held.Attempts);
        held.Release();

        await Eventually.True(() => rig.Forwarded.Received.Count >= messages * events, Wait, "every event is delivered");
        await Eventually.True(async () => await rig.OutboxCountAsync() == 0, Wait, "delivered rows are removed");
        foreach (var (messageId, effectId) in ids)
        {
            Assert.Equal(1, rig.Received.Count(messageId, "consumed"));
            Assert.Equal(1, (await rig.EffectAsync(effectId))!.Count);
            Assert.Equal([0, 1, 2], rig.Forwarded.For(effectId).Select(f => f.Index));
        }
        Assert.Equal(messages * events, rig.Forwarded.Received.Count);
        Assert.Equal(messages * events, rig.Forwarded.Received.Select(r => r.MessageId).Distinct().Count());
        Assert.Equal(messages * events, metrics.Sum("outbox.handed_off") + metrics.Sum("outbox.swept"));
        Assert.True(metrics.Sum("outbox.swept") >= (messages - 5) * events, $"the overflow was delivered from the table (swept {metrics.Sum("outbox.swept")})");
    }

    [Fact]
    public void A_handover_of_several_groups_is_queued_group_by_group_in_position_order_and_a_full_queue_drops_and_asks_for_a_read()
    {
        var signal = new OutboxDeliverySignal<ForwardingDb>();
        var (a, b) = (NewId.NextGuid(), NewId.NextGuid());
        OutboxEntry Row(Guid group, int position, long sequenceNumber) => new() { OutboxId = group, Position = position, SequenceNumber = sequenceNumber };

        signal.Handoff([Row(a, 0, 1)]);
        Assert.Equal(0, signal.Pending);

        signal.Accept(capacity: 2);
        signal.Handoff([Row(b, 1, 5), Row(a, 1, 4), Row(b, 0, 3), Row(a, 0, 2)]);
        Assert.Equal(2, signal.Pending);
        Assert.False(signal.SweepRequested);

        signal.Handoff([Row(NewId.NextGuid(), 0, 6)]);
        Assert.True(signal.SweepRequested);
        var taken = new List<OutboxEntry[]>();
        signal.Take(10, taken);
        Assert.Empty(taken);

        signal.BeginSweep();
        Assert.False(signal.SweepRequested);
        Assert.Equal(0, signal.Pending);
        signal.Handoff([Row(b, 1, 5), Row(a, 1, 4), Row(b, 0, 3), Row(a, 0, 2)]);
        signal.Take(10, taken);
        Assert.Equal(2, taken.Count);
        Assert.Equal([2L, 4L], taken.Single(g => g[0].OutboxId == a).Select(r => r.SequenceNumber));
        Assert.Equal([3L, 5L], taken.Single(g => g[0].OutboxId == b).Select(r => r.SequenceNumber));

        signal.Handoff([Row(a, 2, 0)]);
        Assert.True(signal.SweepRequested);
        signal.Refuse();
        signal.Handoff([Row(a, 3, 7)]);
        Assert.Equal(0, signal.Pending);
    }
}
