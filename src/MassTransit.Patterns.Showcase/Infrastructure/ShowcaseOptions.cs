namespace MassTransit.Patterns.Showcase.Infrastructure;

/// <summary>The command line: which transport, which scenarios, how long.</summary>
/// <remarks><c>--dashboard</c> runs the workflow scenario without end and serves the repair console on http://127.0.0.1:5080.</remarks>
public sealed record ShowcaseOptions(string Transport, IReadOnlyList<string> Scenarios, bool Quick, bool Help, bool Dashboard = false)
{
    public const string InMemory = "inmemory";
    public const string RabbitMq = "rabbitmq";
    public const string RabbitMqCluster = "rabbitmq-cluster";

    /// <summary>RabbitMQ as the 3-node cluster of <c>build/services.sh start --cluster 3</c> (<c>--transport rabbitmq-cluster</c>): quorum queues, every node listed.</summary>
    public bool Cluster { get; init; }

    public static ShowcaseOptions Parse(string[] args)
    {
        var transport = InMemory;
        var scenarios = new List<string>();
        var quick = false;
        var help = false;
        var dashboard = false;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--transport" when i + 1 < args.Length:
                    transport = args[++i].ToLowerInvariant();
                    break;
                case "--quick":
                    quick = true;
                    break;
                case "--dashboard":
                    dashboard = true;
                    break;
                case "-h" or "--help":
                    help = true;
                    break;
                case var s when s.StartsWith("--", StringComparison.Ordinal):
                    throw new ArgumentException($"Unknown option '{s}'. Try --help.");
                default:
                    scenarios.Add(args[i].ToLowerInvariant());
                    break;
            }
        }

        if (transport is not (InMemory or RabbitMq or RabbitMqCluster))
            throw new ArgumentException($"--transport must be '{InMemory}', '{RabbitMq}' or '{RabbitMqCluster}' (was '{transport}').");
        if (dashboard && scenarios.Count > 0)
            throw new ArgumentException("--dashboard runs the workflow scenario on its own: name no scenario with it.");
        return new ShowcaseOptions(transport == RabbitMqCluster ? RabbitMq : transport, scenarios, quick, help, dashboard) { Cluster = transport == RabbitMqCluster };
    }
}
