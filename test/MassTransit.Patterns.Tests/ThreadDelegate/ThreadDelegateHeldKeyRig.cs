using MassTransit.Patterns.Tests.ThreadDelegate.Messages;
using MassTransit.Patterns.ThreadDelegate;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Tests.ThreadDelegate;

/// <summary>
/// Endpoints ordered by the thread delegate with <see cref="FailedKeyBehavior.Hold"/> and one shared control, each with
/// a consumer on its error queue that records what arrived there (one at a time when asked: the order of arrival).
/// </summary>
public sealed class ThreadDelegateHeldKeyRig : IAsyncDisposable
{
    ThreadDelegateHeldKeyRig(ServiceProvider provider)
    {
        Provider = provider;
        Harness = provider.GetRequiredService<ITestHarness>();
    }

    public ServiceProvider Provider { get; }

    public ITestHarness Harness { get; }

    public WorkRecorder Recorder { get; } = new();

    public ErrorQueueRecorder Errors { get; } = new();

    public ThreadDelegateControl Control { get; } = new();

    public static async Task<ThreadDelegateHeldKeyRig> StartAsync(string[] queues, int workers, bool errorQueueOneAtATime = false)
    {
        ThreadDelegateHeldKeyRig? rig = null;
        var services = new ServiceCollection()
            .AddSingleton(_ => rig!.Recorder)
            .AddSingleton(_ => rig!.Errors)
            .AddMetrics()
            .AddMassTransitTestHarness(x =>
            {
                x.AddConsumer<KeyedWorkConsumer>();
                x.UsingInMemory((context, cfg) =>
                {
                    foreach (var queue in queues)
                    {
                        cfg.ReceiveEndpoint(queue, e =>
                        {
                            e.UseThreadDelegate(context, o =>
                            {
                                o.Key<KeyedWork>(m => m.Key);
                                o.Workers = workers;
                                o.FailedKey = FailedKeyBehavior.Hold;
                                o.Control = rig!.Control;
                            });
                            e.ConfigureConsumer<KeyedWorkConsumer>(context);
                        });
                        cfg.ReceiveEndpoint(queue + "_error", e =>
                        {
                            e.ConfigureConsumeTopology = false;
                            if (errorQueueOneAtATime)
                                e.ConcurrentMessageLimit = 1;
                            e.Consumer(() => new ErrorQueueConsumer(rig!.Errors));
                        });
                    }
                });
            });
        rig = new ThreadDelegateHeldKeyRig(services.BuildServiceProvider(true));
        await rig.Harness.Start();
        return rig;
    }

    public Task<ISendEndpoint> EndpointAsync(string queue) => Harness.Bus.GetSendEndpoint(new Uri($"queue:{queue}"));

    /// <summary>Opens the recorder's gate, then stops: a failed test must not leave the bus stop waiting on a gated message.</summary>
    public ValueTask DisposeAsync()
    {
        Recorder.Gate.TrySetResult();
        return Provider.DisposeAsync();
    }
}
