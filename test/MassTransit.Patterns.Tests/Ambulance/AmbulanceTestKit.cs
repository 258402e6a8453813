using System.Collections.Concurrent;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Testing;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.Ambulance.Messages
{
    public record Job(int Number, bool Express = false, bool FailFirst = false);

    [Urgent]
    public record Alarm(int Number);

    public record Question(int Number, bool Fail = false);

    public record Answer(int Number, bool Urgent);

    public record Incident(int Number);
}

namespace MassTransit.Patterns.Tests.Ambulance
{
    using Messages;

    /// <summary>What a consumer saw: which queue it read the message from, and whether it was marked urgent.</summary>
    public sealed record Seen(string Queue, string Kind, int Number, bool Urgent, int Attempt);

    /// <summary>
    /// Records every consumed message and can hold consumers: while <see cref="Holding"/> is set,
    /// each consumer waits for its own release, so a test controls exactly which work is in flight.
    /// </summary>
    public sealed class Recorder
    {
        readonly ConcurrentQueue<Seen> _seen = new();
        readonly ConcurrentQueue<(Seen Seen, TaskCompletionSource Release)> _held = new();
        int _inFlightNormal;
        int _inFlightUrgent;
        int _peakNormal;

        public volatile bool Holding;

        public IReadOnlyList<Seen> Seen => _seen.ToArray();

        public int PeakNormal => Volatile.Read(ref _peakNormal);

        public int InFlightNormal => Volatile.Read(ref _inFlightNormal);

        public int InFlightUrgent => Volatile.Read(ref _inFlightUrgent);

        public int HeldCount => _held.Count;

        /// <summary>Releases the oldest held message.</summary>
        public Seen ReleaseOne()
        {
            if (!_held.TryDequeue(out var held))
                throw new InvalidOperationException("nothing is held");
            held.Release.SetResult();
            return held.Seen;
        }

        public void ReleaseAll()
        {
            Holding = false;
            while (_held.TryDequeue(out var held))
                held.Release.TrySetResult();
        }

        public async Task Record(ConsumeContext context, string kind, int number)
        {
            var queue = context.ReceiveContext.InputAddress.GetEndpointName() ?? "";
            var urgentLane = queue.EndsWith(AmbulanceLaneOptions.DefaultSuffix, StringComparison.Ordinal);
            var seen = new Seen(queue, kind, number, context.IsUrgent(), context.GetRetryAttempt() + context.GetRedeliveryCount());
            if (urgentLane)
                Interlocked.Increment(ref _inFlightUrgent);
            else
            {
                var now = Interlocked.Increment(ref _inFlightNormal);
                int peak;
                while (now > (peak = Volatile.Read(ref _peakNormal)) && Interlocked.CompareExchange(ref _peakNormal, now, peak) != peak)
                {
                }
            }
            // Seen last, so that a test seeing the message also sees it counted in flight.
            _seen.Enqueue(seen);
            try
            {
                if (Holding)
                {
                    var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    _held.Enqueue((seen, release));
                    await release.Task.WaitAsync(TimeSpan.FromSeconds(30));
                }
            }
            finally
            {
                if (urgentLane)
                    Interlocked.Decrement(ref _inFlightUrgent);
                else
                    Interlocked.Decrement(ref _inFlightNormal);
            }
        }
    }

    public sealed class JobConsumer(Recorder recorder) : IConsumer<Job>, IConsumer<Alarm>
    {
        public async Task Consume(ConsumeContext<Job> context)
        {
            await recorder.Record(context, nameof(Job), context.Message.Number);
            if (context.Message.FailFirst && context.GetRedeliveryCount() == 0)
                throw new InvalidOperationException($"job {context.Message.Number} fails its first delivery");
        }

        public Task Consume(ConsumeContext<Alarm> context) => recorder.Record(context, nameof(Alarm), context.Message.Number);
    }

    public sealed class QuestionConsumer(Recorder recorder) : IConsumer<Question>
    {
        public async Task Consume(ConsumeContext<Question> context)
        {
            await recorder.Record(context, nameof(Question), context.Message.Number);
            if (context.Message.Fail)
                throw new InvalidOperationException($"question {context.Message.Number} fails");
            await context.RespondAsync(new Answer(context.Message.Number, context.IsUrgent()));
        }
    }

    public sealed class IncidentConsumer(Recorder recorder) : IConsumer<Incident>
    {
        public Task Consume(ConsumeContext<Incident> context) => recorder.Record(context, nameof(Incident), context.Message.Number);
    }

    /// <summary>A second subscriber to <see cref="Incident"/>, on an endpoint without a lane.</summary>
    public sealed class IncidentAuditConsumer(Recorder recorder) : IConsumer<Incident>
    {
        public Task Consume(ConsumeContext<Incident> context) => recorder.Record(context, "IncidentAudit", context.Message.Number);
    }

    /// <summary>Reads the lane depth gauge of one queue: urgent messages held by the lane, waiting for a slot or running.</summary>
    public static class LaneDepth
    {
        public static long Of(string queue)
        {
            long depth = 0;
            using var listener = new System.Diagnostics.Metrics.MeterListener();
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == AmbulanceMetrics.LaneDepthName)
                    l.EnableMeasurementEvents(instrument);
            };
            listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                foreach (var tag in tags)
                    if (tag.Key == Diagnostics.PatternsTags.Queue && Equals(tag.Value, queue))
                        depth += value;
            });
            listener.Start();
            listener.RecordObservableInstruments();
            return depth;
        }
    }

    /// <summary>Starts a test harness bus on the in-memory transport with the lane configured.</summary>
    public static class AmbulanceHarness
    {
        public const string Queue = "ambulance-jobs";

        public static async Task<(ServiceProvider Provider, ITestHarness Harness, Recorder Recorder)> StartAsync(
            Action<AmbulanceConfigurator> configure, int queueConcurrency = 2, Action<IBusRegistrationConfigurator>? register = null,
            Action<IInMemoryBusFactoryConfigurator>? bus = null, string queue = Queue, Action<IServiceCollection>? services = null)
        {
            var recorder = new Recorder();
            var collection = new ServiceCollection()
                .AddMetrics()
                .AddSingleton(recorder)
                .AddLogging()
                .AddInMemoryQueueDepthProbe();
            services?.Invoke(collection);
            var provider = collection
                .AddMassTransitTestHarness(x =>
                {
                    x.AddConsumer<JobConsumer>().Endpoint(e =>
                    {
                        e.Name = queue;
                        e.ConcurrentMessageLimit = queueConcurrency;
                    });
                    register?.Invoke(x);
                    x.UsingInMemory((context, cfg) =>
                    {
                        bus?.Invoke(cfg);
                        cfg.UseAmbulanceLane(context, configure);
                        cfg.ConfigureEndpoints(context);
                    });
                })
                .BuildServiceProvider(true);
            var harness = provider.GetRequiredService<ITestHarness>();
            try
            {
                await harness.Start();
            }
            catch
            {
                await provider.DisposeAsync();
                throw;
            }
            return (provider, harness, recorder);
        }
    }
}
