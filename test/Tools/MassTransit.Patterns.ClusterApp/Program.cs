using System.Globalization;
using MassTransit;
using MassTransit.Patterns.ClusterApp;
using MassTransit.Patterns.ClusterApp.Messages;
using MassTransit.Patterns.ControlFlow;
using MassTransit.Patterns.QueueDepth;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Supervisor;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

// One app instance of the cluster tests, in its own process, connected to the RabbitMQ cluster with its own node listed
// first. It reports on stdout, one line each (stderr carries the logs):
//   READY                                   the bus is healthy
//   ENDPOINT-READY <queue>                  a receive endpoint is consuming (again, after a reconnect)
//   TICK <limit> <instances> <target> <depth> <failure>   fleet mode: every supervisor look ('-' for none)
//   CONSUMED <message id> <number> <redelivered>          a message consumed (fleet and monitor modes)
//   ABANDONED <message id> <number>         a held message whose channel died before RELEASE (the broker delivers it again)
//   STATE <queue> <state> <monitor id> <sequence>         monitor and producer modes: a flow statement applied
//   SENT|REJECTED <message id> <number>     producer mode: a send the gate let through, or refused (BackPressureException)
//   SEND-DONE <n>                           producer mode: the n sends of a SEND command ended
// and reads commands on stdin: RELEASE (the held consumers finish), SEND <n> (producer mode: n sends).
var settings = ClusterAppSettings.Parse(args);
var gate = new object();

void Report(string line)
{
    lock (gate)
    {
        Console.Out.WriteLine(line);
        Console.Out.Flush();
    }
}

var released = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
// MassTransit's reconnections ("Retrying {Delay}", "Connected: ...") go to stderr, which the tests print when they end.
builder.Logging.AddFilter("MassTransit", LogLevel.Information);
builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
builder.Services.AddSingleton(new AppReport(Report, released.Task));
// The library's AMQP depth probe, its own node first and the others after it: a quorum queue reads on any member.
builder.Services.AddSingleton<IQueueDepthProbe>(new RabbitMqQueueDepthProbe(Options.Create(new RabbitMqProbeOptions
{
    HostName = settings.Host,
    Port = settings.OwnPort,
    UserName = settings.User,
    Password = settings.Password,
    ConnectionTimeout = TimeSpan.FromSeconds(1),
    ReadTimeout = TimeSpan.FromSeconds(1),
    ClusterNodes = [.. settings.NodesOwnFirst.Skip(1).Select(port => $"{settings.Host}:{port}")]
})));

switch (settings.Mode)
{
    case "fleet":
        builder.Services.AddConsumerSupervisorRegistry();
        builder.Services.AddDbContext<ClusterFleetDb>(o => o.UseNpgsql(settings.Postgres));
        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<HeldJobConsumer>().Endpoint(e => e.Name = settings.Queue);
            x.AddConsumerSupervisorSaga()
                .Endpoint(e => e.Name = settings.SagaQueue)
                .PatternsEntityFrameworkRepository(r => r.ExistingDbContext<ClusterFleetDb>());
            x.AddConfigureEndpointsCallback((context, name, cfg) =>
            {
                // The work queue and the saga's queue are replicated on the three nodes: either survives a node's loss.
                if ((name == settings.Queue || name == settings.SagaQueue) && cfg is IRabbitMqReceiveEndpointConfigurator rabbit)
                    rabbit.SetQuorumQueue(3);
                if (name == settings.Queue)
                    cfg.UseSupervisor(context, o =>
                    {
                        o.MinConsumers = 1;
                        o.MaxConsumers = 8;
                        o.MessagesPerConsumer = 20;
                        o.PollInterval = TimeSpan.FromMilliseconds(250);
                        o.ScaleDownCooldown = TimeSpan.FromSeconds(1);
                        o.UseFleet(f =>
                        {
                            f.InstanceId = settings.Instance;
                            f.InstanceTimeout = TimeSpan.FromSeconds(1.5);
                            f.RequestTimeout = TimeSpan.FromSeconds(2);
                        });
                    });
            });
            UsingCluster(x);
        });
        break;
    case "monitor":
        builder.Services.AddQueueDepthMonitor(o => o.PollInterval = TimeSpan.FromMilliseconds(200));
        builder.Services.AddFlowMonitor(o =>
        {
            o.Lease = TimeSpan.FromSeconds(3);
            o.Watch(settings.Queue, highWatermark: 20, lowWatermark: 5).Consumes<FlowReading>();
        });
        builder.Services.AddMassTransit(x =>
        {
            x.AddConsumer<HeldReadingConsumer>().Endpoint(e =>
            {
                e.Name = settings.Queue;
                e.ConcurrentMessageLimit = 1;
                e.PrefetchCount = 1;
            });
            x.AddConfigureEndpointsCallback((_, name, cfg) =>
            {
                if (name == settings.Queue && cfg is IRabbitMqReceiveEndpointConfigurator rabbit)
                    rabbit.SetQuorumQueue(3);
            });
            UsingCluster(x);
        });
        break;
    case "producer":
        builder.Services.AddMassTransit(x =>
        {
            x.AddProducerControlFlow();
            UsingCluster(x, (context, cfg) => cfg.UseProducerControlFlow(context, o =>
            {
                o.WhenSlow = SlowAction.Reject;
                o.WhenStopped = StopAction.Reject;
            }));
        });
        break;
    default:
        throw new ArgumentException($"unknown mode {settings.Mode}");
}

using var host = builder.Build();
if (settings.Mode is "monitor" or "producer")
    host.Services.GetRequiredService<FlowControlStateStore>().Applied += s =>
        Report($"STATE {s.Queue} {s.State} {s.MonitorId:N} {s.Sequence}");
await host.StartAsync();
var bus = host.Services.GetRequiredService<IBusControl>();
await bus.WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(60));
if (settings.Mode == "fleet")
    host.Services.GetRequiredService<ConsumerSupervisorRegistry>().Get(settings.Queue).Ticked += t =>
        Report(string.Create(CultureInfo.InvariantCulture,
            $"TICK {t.Limit} {t.FleetInstances?.ToString(CultureInfo.InvariantCulture) ?? "-"} {t.FleetTarget?.ToString(CultureInfo.InvariantCulture) ?? "-"} {t.Depth?.ToString(CultureInfo.InvariantCulture) ?? "-"} {t.Failure ?? "-"}"));
Report("READY");

var sent = 0;
var commands = Task.Run(async () =>
{
    while (await Console.In.ReadLineAsync() is { } line)
    {
        if (line == "RELEASE")
            released.TrySetResult();
        else if (line.StartsWith("SEND ", StringComparison.Ordinal))
        {
            var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{settings.Queue}"));
            var count = int.Parse(line[5..], CultureInfo.InvariantCulture);
            for (var i = count; i > 0; i--)
            {
                var id = NewId.NextGuid();
                var number = Interlocked.Increment(ref sent);
                try
                {
                    await endpoint.Send(new FlowReading(number), c => c.MessageId = id);
                    Report($"SENT {id} {number}");
                }
                catch (BackPressureException)
                {
                    Report($"REJECTED {id} {number}");
                }
            }
            Report($"SEND-DONE {count}");
        }
    }
});
await host.WaitForShutdownAsync();

void UsingCluster(IBusRegistrationConfigurator x, Action<IBusRegistrationContext, IRabbitMqBusFactoryConfigurator>? configure = null)
{
    x.AddConfigureEndpointsCallback((_, _, cfg) => cfg.ConnectReceiveEndpointObserver(new ReadyReporter(Report)));
    x.UsingRabbitMq((context, cfg) =>
    {
        cfg.Host(settings.Host, (ushort)settings.OwnPort, "/", h =>
        {
            h.Username(settings.User);
            h.Password(settings.Password);
            h.ConnectionName(settings.ConnectionName);
            // This instance's node first, then the others: it connects to its own node and moves to another when that one dies.
            h.UseCluster(c =>
            {
                foreach (var port in settings.NodesOwnFirst)
                    c.Node($"{settings.Host}:{port}");
            });
        });
        configure?.Invoke(context, cfg);
        cfg.ConfigureEndpoints(context);
    });
}

namespace MassTransit.Patterns.ClusterApp
{
    /// <summary>Where the consumers report, and the signal that lets the held ones finish.</summary>
    public sealed record AppReport(Action<string> Write, Task Released);

    /// <summary>Holds each job until RELEASE, so the queue stays deep while the fleet's shares are watched.</summary>
    public sealed class HeldJobConsumer(AppReport report) : IConsumer<FleetJob>
    {
        public Task Consume(ConsumeContext<FleetJob> context) => HeldWork.DoAsync(report, context, context.Message.Number);
    }

    /// <summary>The flow-controlled queue's one consumer: holds until RELEASE, so the queue fills past the high watermark.</summary>
    public sealed class HeldReadingConsumer(AppReport report) : IConsumer<FlowReading>
    {
        public Task Consume(ConsumeContext<FlowReading> context) => HeldWork.DoAsync(report, context, context.Message.Number);
    }

    static class HeldWork
    {
        /// <summary>
        /// Waits for RELEASE, then reports the message consumed. When the message's channel dies first (its node was killed),
        /// MassTransit cancels the delivery: the job is abandoned unfinished (reported, not consumed) and the broker delivers it
        /// again; returning lets the endpoint restart on a surviving node, which waits for its deliveries to end.
        /// </summary>
        public static async Task DoAsync(AppReport report, ConsumeContext context, int number)
        {
            try
            {
                await report.Released.WaitAsync(context.CancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
            {
                report.Write($"ABANDONED {context.MessageId} {number}");
                return;
            }
            report.Write($"CONSUMED {context.MessageId} {number} {(context.ReceiveContext.Redelivered ? 1 : 0)}");
        }
    }

    /// <summary>Reports every receive endpoint that starts consuming, the first time and after each reconnect.</summary>
    sealed class ReadyReporter(Action<string> report) : IReceiveEndpointObserver
    {
        public Task Ready(ReceiveEndpointReady ready)
        {
            report($"ENDPOINT-READY {ready.InputAddress.AbsolutePath.TrimStart('/')}");
            return Task.CompletedTask;
        }

        public Task Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

        public Task Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

        public Task Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;
    }
}
