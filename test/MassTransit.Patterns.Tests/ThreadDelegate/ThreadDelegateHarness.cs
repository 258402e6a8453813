using System.Collections.Concurrent;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.ThreadDelegate;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.ThreadDelegate.Messages
{
    /// <summary>A keyed message: <see cref="Seq"/> is its place among its key's messages, in send order.</summary>
    public record KeyedWork(string? Key, int Seq, int DelayMs = 0, int TransientFailures = 0, bool FailPermanently = false, bool WaitForGate = false);
}

namespace MassTransit.Patterns.Tests.ThreadDelegate
{
    using Messages;

    /// <summary>What the consumer saw: completions per key in completion order, and how many ran at once.</summary>
    public sealed class WorkRecorder
    {
        readonly ConcurrentDictionary<string, List<int>> _completed = new();
        readonly ConcurrentDictionary<string, int> _activePerKey = new();
        int _active;
        int _completedCount;
        int _started;

        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int MaxActive;
        public int MaxActivePerKey;

        public int Active => Volatile.Read(ref _active);

        public int Completed => Volatile.Read(ref _completedCount);

        public int Started => Volatile.Read(ref _started);

        public IReadOnlyList<int> CompletedOf(string key)
        {
            var list = _completed.GetOrAdd(key, _ => []);
            lock (list)
                return [.. list];
        }

        public IReadOnlyCollection<string> Keys => _completed.Keys.ToArray();

        public void Enter(string key)
        {
            Interlocked.Increment(ref _started);
            var active = Interlocked.Increment(ref _active);
            InterlockedMax(ref MaxActive, active);
            var perKey = _activePerKey.AddOrUpdate(key, 1, (_, v) => v + 1);
            InterlockedMax(ref MaxActivePerKey, perKey);
        }

        public void Leave(string key, int seq, bool succeeded)
        {
            _activePerKey.AddOrUpdate(key, 0, (_, v) => v - 1);
            Interlocked.Decrement(ref _active);
            if (!succeeded)
                return;
            var list = _completed.GetOrAdd(key, _ => []);
            lock (list)
                list.Add(seq);
            Interlocked.Increment(ref _completedCount);
        }

        static void InterlockedMax(ref int target, int value)
        {
            int current;
            while (value > (current = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, current) != current)
            {
            }
        }
    }

    public sealed class KeyedWorkConsumer(WorkRecorder recorder) : IConsumer<KeyedWork>
    {
        public async Task Consume(ConsumeContext<KeyedWork> context)
        {
            var message = context.Message;
            var key = string.IsNullOrEmpty(message.Key) ? "(none)" : message.Key;
            recorder.Enter(key);
            var succeeded = false;
            try
            {
                if (message.WaitForGate)
                    await recorder.Gate.Task;
                if (message.DelayMs > 0)
                    await Task.Delay(message.DelayMs);
                if (message.FailPermanently)
                    throw new InvalidOperationException($"{key}#{message.Seq} always fails");
                if (context.GetRetryAttempt() < message.TransientFailures)
                    throw new TimeoutException($"{key}#{message.Seq} transient failure {context.GetRetryAttempt() + 1}");
                succeeded = true;
            }
            finally
            {
                recorder.Leave(key, message.Seq, succeeded);
            }
        }
    }

    /// <summary>A test harness with one endpoint ordered by the thread delegate.</summary>
    public sealed class ThreadDelegateHarness : IAsyncDisposable
    {
        public const string Queue = "thread-delegate-work";

        ThreadDelegateHarness(ServiceProvider provider, WorkRecorder recorder, ThreadDelegateControl control)
        {
            Provider = provider;
            Recorder = recorder;
            Control = control;
            Harness = provider.GetRequiredService<ITestHarness>();
        }

        public ServiceProvider Provider { get; }

        public ITestHarness Harness { get; }

        public WorkRecorder Recorder { get; }

        public ThreadDelegateControl Control { get; }

        public ThreadDelegateSnapshot Snapshot => Control.Snapshot()[Queue];

        public static async Task<ThreadDelegateHarness> StartAsync(Action<ThreadDelegateOptions> configure, int retries = 0, bool start = true)
        {
            var recorder = new WorkRecorder();
            var control = new ThreadDelegateControl();
            var provider = new ServiceCollection()
                .AddSingleton(recorder)
                .AddMetrics()
                .AddInMemoryQueueDepthProbe()
                .AddMassTransitTestHarness(x =>
                {
                    x.AddConsumer<KeyedWorkConsumer>();
                    x.UsingInMemory((context, cfg) =>
                    {
                        cfg.ReceiveEndpoint(Queue, e =>
                        {
                            if (retries > 0)
                                e.UseMessageRetry(r => r.Immediate(retries));
                            e.UseThreadDelegate(context, o =>
                            {
                                o.Key<KeyedWork>(m => m.Key);
                                o.Control = control;
                                configure(o);
                            });
                            e.ConfigureConsumer<KeyedWorkConsumer>(context);
                        });
                    });
                })
                .BuildServiceProvider(true);
            var harness = new ThreadDelegateHarness(provider, recorder, control);
            if (start)
                await harness.Harness.Start();
            return harness;
        }

        public async Task SendAsync(IEnumerable<KeyedWork> messages)
        {
            var endpoint = await Harness.Bus.GetSendEndpoint(new Uri($"queue:{Queue}"));
            foreach (var message in messages)
                await endpoint.Send(message); // one at a time: send order is the order per key
        }

        /// <summary>
        /// Opens the gate, then stops: stopping waits for the consumers in flight, and a test that failed before it opened
        /// the gate would otherwise hang the run instead of failing.
        /// </summary>
        public ValueTask DisposeAsync()
        {
            Recorder.Gate.TrySetResult();
            return Provider.DisposeAsync();
        }
    }
}
