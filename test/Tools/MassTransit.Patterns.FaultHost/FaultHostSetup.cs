using MassTransit.Patterns.EntityFrameworkCore.EventForwarding;
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.RabbitMQ.EventForwarding;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.FaultHost;

/// <summary>How the consumer under fault is set up, shared by the child process and the tests that run it in process.</summary>
public sealed record FaultHostSettings
{
    public required int RabbitPort { get; init; }
    public string RabbitHost { get; init; } = "127.0.0.1";
    public required string RabbitUser { get; init; }
    public required string RabbitPassword { get; init; }
    public required string Postgres { get; init; }
    public required string Queue { get; init; }
    public int Concurrency { get; init; } = 8;
    public bool Inbox { get; init; } = true;
    public Guid? StallOn { get; init; }
    public Guid? CrashAfterCommit { get; init; }

    /// <summary>Batched mode's <c>MaxBatchSize</c>; 0 or 1: one transaction per message (the default mode).</summary>
    public int Batching { get; init; }

    /// <summary>Stall on the last member of the first batch of more than one (the whole batch ran, none of it committed).</summary>
    public bool StallInBatch { get; init; }

    /// <summary>Crash after the commit of the first message that was a member of a batch of more than one.</summary>
    public bool CrashInBatch { get; init; }

    /// <summary>The AMQP ports of a RabbitMQ cluster's nodes (MassTransit connects to the first that answers, and on to the next when it fails); empty: <see cref="RabbitPort"/> alone.</summary>
    public int[] ClusterPorts { get; init; } = [];

    /// <summary>Declares the endpoint's queue as a quorum queue (event forwarding's <c>QuorumQueues</c>).</summary>
    public bool QuorumQueues { get; init; }

    public string[] ToArguments()
    {
        var args = new List<string>
        {
            "--rabbit-host", RabbitHost, "--rabbit-port", RabbitPort.ToString(), "--rabbit-user", RabbitUser, "--rabbit-password", RabbitPassword,
            "--postgres", Postgres, "--queue", Queue, "--concurrency", Concurrency.ToString()
        };
        if (!Inbox)
            args.Add("--no-inbox");
        if (StallOn is { } stall)
            args.AddRange(["--stall-on", stall.ToString()]);
        if (CrashAfterCommit is { } crash)
            args.AddRange(["--crash-after-commit", crash.ToString()]);
        if (Batching > 1)
            args.AddRange(["--batching", Batching.ToString()]);
        if (StallInBatch)
            args.Add("--stall-in-batch");
        if (CrashInBatch)
            args.Add("--crash-in-batch");
        if (ClusterPorts.Length > 0)
            args.AddRange(["--rabbit-cluster", string.Join(',', ClusterPorts)]);
        if (QuorumQueues)
            args.Add("--quorum");
        return args.ToArray();
    }

    public static FaultHostSettings Parse(string[] args)
    {
        string Value(string name)
        {
            var index = Array.IndexOf(args, name);
            return index >= 0 && index + 1 < args.Length ? args[index + 1] : throw new ArgumentException($"missing {name}");
        }

        Guid? Optional(string name) => Array.IndexOf(args, name) >= 0 ? Guid.Parse(Value(name)) : null;

        return new FaultHostSettings
        {
            RabbitHost = Value("--rabbit-host"),
            RabbitPort = int.Parse(Value("--rabbit-port")),
            RabbitUser = Value("--rabbit-user"),
            RabbitPassword = Value("--rabbit-password"),
            Postgres = Value("--postgres"),
            Queue = Value("--queue"),
            Concurrency = int.Parse(Value("--concurrency")),
            Inbox = Array.IndexOf(args, "--no-inbox") < 0,
            StallOn = Optional("--stall-on"),
            CrashAfterCommit = Optional("--crash-after-commit"),
            Batching = Array.IndexOf(args, "--batching") >= 0 ? int.Parse(Value("--batching")) : 0,
            StallInBatch = Array.IndexOf(args, "--stall-in-batch") >= 0,
            CrashInBatch = Array.IndexOf(args, "--crash-in-batch") >= 0,
            ClusterPorts = Array.IndexOf(args, "--rabbit-cluster") >= 0 ? Value("--rabbit-cluster").Split(',').Select(int.Parse).ToArray() : [],
            QuorumQueues = Array.IndexOf(args, "--quorum") >= 0
        };
    }
}

public static class FaultHostSetup
{
    /// <summary>
    /// The consumer of <see cref="FaultHostSettings.Queue"/> with event forwarding on RabbitMQ and the
    /// EF Core inbox and outbox on PostgreSQL; transient failures (the database away) are retried
    /// for about half a minute before a message would go to the error queue. With <see cref="FaultHostSettings.Batching"/>
    /// above 1 the endpoint runs in batched mode, and the batched inbox's events are reported (<see cref="BatchReportLoggerProvider"/>).
    /// </summary>
    public static IServiceCollection AddFaultConsumer(this IServiceCollection services, FaultHostSettings settings, ConsumerHooks hooks,
        Action<string> report, Action<IBusRegistrationConfigurator>? registration = null)
    {
        services.AddSingleton(hooks);
        services.AddLogging(l => l.AddBatchReport(report, hooks.OnBatchStarted));
        services.AddDbContext<FaultDb>(o => o.UseNpgsql(settings.Postgres));
        services.AddMassTransit(x =>
        {
            x.AddEventForwarding(o =>
            {
                o.SendTimeout = TimeSpan.FromSeconds(3);
                o.ResendLimit = 2;
                o.ResendInterval = TimeSpan.FromMilliseconds(200);
            });
            x.AddPatternsEntityFrameworkOutbox<FaultDb>(o =>
            {
                o.DeliveryInterval = TimeSpan.FromMilliseconds(200);
                o.MaxDeliveryBackoff = TimeSpan.FromSeconds(2);
                o.LeaseDuration = TimeSpan.FromSeconds(10);
                o.BacklogSampleInterval = TimeSpan.FromMilliseconds(500);
            });
            x.AddConsumer<ApplyWorkConsumer>().Endpoint(e =>
            {
                e.Name = settings.Queue;
                e.ConcurrentMessageLimit = settings.Concurrency;
                e.PrefetchCount = settings.Concurrency;
            });
            x.AddConfigureEndpointsCallback((context, name, cfg) =>
            {
                if (name != settings.Queue)
                    return;
                cfg.UseMessageRetry(r => r.Interval(60, TimeSpan.FromMilliseconds(500)));
                if (settings.CrashAfterCommit is not null || settings.CrashInBatch)
                    cfg.UseFilter(new CrashAfterCommitFilter(settings.CrashAfterCommit, settings.CrashInBatch, hooks, report));
                cfg.UsePatternsEntityFrameworkOutbox<FaultDb>(context, o =>
                {
                    o.Inbox = settings.Inbox;
                    if (settings.Batching > 1)
                        o.Batching(b => b.MaxBatchSize = settings.Batching);
                });
            });
            registration?.Invoke(x);
            x.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(settings.RabbitHost, (ushort)settings.RabbitPort, "/", h =>
                {
                    h.Username(settings.RabbitUser);
                    h.Password(settings.RabbitPassword);
                    if (settings.ClusterPorts.Length > 0)
                        h.UseCluster(c =>
                        {
                            foreach (var port in settings.ClusterPorts)
                                c.Node($"{settings.RabbitHost}:{port}");
                        });
                });
                cfg.UseEventForwarding(context, o => o.QuorumQueues = settings.QuorumQueues);
                cfg.ConfigureEndpoints(context);
            });
        });
        return services;
    }
}
