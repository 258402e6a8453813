using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using MassTransit.Patterns.Configuration;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Tests.Messages;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Tests.EventForwarding;

/// <summary>The producer side of event forwarding: a send returns once confirmed; an unconfirmed attempt is repeated with the same message id, a bounded number of times.</summary>
public sealed class EventForwarderTests
{
    /// <summary>Fails or stalls the first attempts of each message id, as a broker that drops the connection or never confirms would.</summary>
    sealed class FlakyBroker(int failures, bool stall) : ISendObserver
    {
        readonly ConcurrentDictionary<Guid, int> _attempts = new();

        public int Attempts(Guid id) => _attempts.TryGetValue(id, out var n) ? n : 0;

        public async Task PreSend<T>(SendContext<T> context)
            where T : class
        {
            if (context.Message is not WorkItem)
                return;
            var attempt = _attempts.AddOrUpdate(context.MessageId!.Value, 1, (_, n) => n + 1);
            if (attempt > failures)
                return;
            if (stall)
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            throw new IOException($"connection lost before the confirmation (attempt {attempt})");
        }

        public Task PostSend<T>(SendContext<T> context)
            where T : class =>
            Task.CompletedTask;

        public Task SendFault<T>(SendContext<T> context, Exception exception)
            where T : class =>
            Task.CompletedTask;
    }

    sealed class WorkConsumer : IConsumer<WorkItem>
    {
        public Task Consume(ConsumeContext<WorkItem> context) => Task.CompletedTask;
    }

    sealed class Counters : IDisposable
    {
        readonly MeterListener _listener = new();
        readonly ConcurrentDictionary<string, long> _sums = new();

        public Counters()
        {
            _listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name.StartsWith("masstransit.patterns.event_forwarding.", StringComparison.Ordinal))
                    l.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
            {
                foreach (var tag in tags)
                    if (tag is { Key: PatternsTags.Source, Value: "producer" } || i.Name.EndsWith("violations", StringComparison.Ordinal))
                    {
                        _sums.AddOrUpdate(i.Name["masstransit.patterns.event_forwarding.".Length..], v, (_, s) => s + v);
                        return;
                    }
            });
            _listener.Start();
        }

        public long this[string name] => _sums.TryGetValue(name, out var v) ? v : 0;

        public void Dispose() => _listener.Dispose();
    }

    static async Task<(ServiceProvider Provider, ITestHarness Harness)> StartAsync(FlakyBroker broker, Action<EventForwardingOptions> options)
    {
        var provider = new ServiceCollection()
            .AddSendObserver(_ => broker)
            .AddMassTransitTestHarness(x =>
            {
                x.AddEventForwarding(options);
                x.AddConsumer<WorkConsumer>().Endpoint(e => e.Name = "work-item");
            })
            .BuildServiceProvider(true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        return (provider, harness);
    }

    [Fact]
    public async Task A_send_that_fails_is_resent_with_the_same_message_id_and_returns_once_delivered()
    {
        using var counters = new Counters();
        var broker = new FlakyBroker(failures: 2, stall: false);
        var (provider, harness) = await StartAsync(broker, o => o.ResendInterval = TimeSpan.FromMilliseconds(10));
        await using var _ = provider;

        var id = await provider.GetRequiredService<IEventForwarder>().Send(new Uri("queue:work-item"), new WorkItem(1));

        Assert.Equal(3, broker.Attempts(id));
        await Eventually.True(async () => (await harness.Consumed.Now<WorkItem>(x => x.Context.MessageId == id)).Count > 0, TimeSpan.FromSeconds(10), "the message is consumed");
        Assert.Single(await harness.Consumed.Settled<WorkItem>());
        Assert.Equal(2, counters["send.resends"]);
        Assert.Equal(1, counters["send.confirmed"]);
    }

    [Fact]
    public async Task An_attempt_that_is_not_confirmed_within_the_send_timeout_is_resent()
    {
        var broker = new FlakyBroker(failures: 1, stall: true);
        var sendTimeout = TimeSpan.FromSeconds(2);
        var (provider, harness) = await StartAsync(broker, o =>
        {
            o.SendTimeout = sendTimeout;
            o.ResendInterval = TimeSpan.Zero;
        });
        await using var _ = provider;
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var id = await provider.GetRequiredService<IEventForwarder>().Send(new Uri("queue:work-item"), new WorkItem(2));

        Assert.Equal(2, broker.Attempts(id));
        // The timeout's timer may fire up to one system timer tick before the Stopwatch reads it (a run measured 1.998 s).
        var timerTick = TimeSpan.FromMilliseconds(20);
        Assert.True(watch.Elapsed >= sendTimeout - timerTick, $"the first attempt was given its full timeout (returned after {watch.Elapsed})");
        await Eventually.True(async () => (await harness.Consumed.Now<WorkItem>(x => x.Context.MessageId == id)).Count > 0, TimeSpan.FromSeconds(10), "the resent message is consumed");
    }

    [Fact]
    public async Task After_the_resend_limit_the_send_throws_with_the_message_id_to_resend_later()
    {
        using var counters = new Counters();
        var broker = new FlakyBroker(failures: int.MaxValue, stall: false);
        var (provider, harness) = await StartAsync(broker, o =>
        {
            o.ResendLimit = 2;
            o.ResendInterval = TimeSpan.FromMilliseconds(5);
        });
        await using var _ = provider;
        var forwarder = provider.GetRequiredService<IEventForwarder>();
        var id = NewId.NextGuid();

        var failure = await Assert.ThrowsAsync<MessageNotConfirmedException>(() => forwarder.Send(new Uri("queue:work-item"), new WorkItem(3), id));

        Assert.Equal(id, failure.MessageId);
        Assert.Equal(3, failure.Attempts);
        Assert.Equal(3, broker.Attempts(id));
        Assert.IsType<IOException>(failure.InnerException);
        Assert.Equal(1, counters["send.unconfirmed"]);
        Assert.Empty(await harness.Sent.Settled<WorkItem>(x => x.Context.MessageId == id && x.Exception is null));
        Assert.Empty(await harness.Consumed.Settled<WorkItem>(x => x.Context.MessageId == id));
    }

    [Fact]
    public void Bad_options_are_named()
    {
        var options = new EventForwardingOptions { SendTimeout = TimeSpan.Zero, ResendLimit = -1, ResendInterval = TimeSpan.FromSeconds(-1) };

        var failure = Assert.Throws<PatternOptionsException>(() => options.EnsureValid());

        Assert.Equal(["EventForwardingOptions.SendTimeout", "EventForwardingOptions.ResendLimit", "EventForwardingOptions.ResendInterval"],
            failure.Failures.Select(f => f.Option));
    }

    [Fact]
    public async Task Bad_options_fail_the_host_start()
    {
        using var host = new HostBuilder().ConfigureServices(s => s.AddEventForwarding(o => o.ResendLimit = 1000)).Build();

        var failure = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync());

        Assert.Contains("EventForwardingOptions.ResendLimit must be between 0 and 100 (was 1000)", failure.Message);
    }

    [Fact]
    public async Task The_start_up_check_fails_the_bus_on_a_violation_and_only_warns_when_told_to()
    {
        using var counters = new Counters();
        foreach (var action in new[] { EventForwardingViolationAction.Fail, EventForwardingViolationAction.Warn })
        {
            EventForwardingStartupCheck? check = null;
            await using var provider = new ServiceCollection()
                .AddMassTransitTestHarness(x =>
                {
                    x.AddEventForwarding(o => o.OnViolation = action);
                    x.UsingInMemory((context, cfg) =>
                    {
                        cfg.UseEventForwarding(context);
                        check = context.GetRequiredService<EventForwardingStartupCheck>()
                            .Add(_ => [new EventForwardingViolation("endpoint work: AutoDelete = true", "the queue vanishes with its consumer")]);
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();

            if (action == EventForwardingViolationAction.Fail)
            {
                var failure = await Assert.ThrowsAsync<EventForwardingViolationException>(() => harness.Start());
                Assert.Contains("endpoint work: AutoDelete = true", failure.Message);
                Assert.DoesNotContain("transport", failure.Violations.Select(v => v.Setting));
            }
            else
            {
                await harness.Start();
                Assert.Equal(BusHealthStatus.Healthy, harness.Bus is IBusControl control ? control.CheckHealth().Status : BusHealthStatus.Unhealthy);
                await harness.Stop();
            }

            Assert.Contains(check!.Violations, v => v is { Setting: "transport", Severity: EventForwardingViolationSeverity.Warning });
        }
        Assert.Equal(4, counters["violations"]);
    }
}
