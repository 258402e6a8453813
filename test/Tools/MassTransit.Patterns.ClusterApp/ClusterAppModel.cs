using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.Supervisor.Fleet;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.ClusterApp.Messages
{
    /// <summary>A job for the supervised fleet's queue.</summary>
    public record FleetJob(int Number);

    /// <summary>A message to the flow-controlled queue.</summary>
    public record FlowReading(int Number);
}

namespace MassTransit.Patterns.ClusterApp
{
    /// <summary>The fleet's database: the supervisor saga, shared by every instance.</summary>
    public sealed class ClusterFleetDb(DbContextOptions<ClusterFleetDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddSagaInstance<ConsumerSupervisorState>();
    }

    /// <summary>What one app process is and where it connects; given on the command line as <c>--name value</c> pairs.</summary>
    public sealed record ClusterAppSettings
    {
        /// <summary><c>fleet</c> (a supervised consumer of the fleet's queue and a host of its saga), <c>monitor</c> or <c>producer</c>.</summary>
        public string Mode { get; init; } = "fleet";

        public string Host { get; init; } = "127.0.0.1";

        /// <summary>The cluster node this instance lists first.</summary>
        public int OwnPort { get; init; }

        /// <summary>Every cluster node's AMQP port.</summary>
        public int[] ClusterPorts { get; init; } = [];

        public string User { get; init; } = "guest";

        public string Password { get; init; } = "guest";

        /// <summary>The supervised or flow-controlled queue (a quorum queue).</summary>
        public string Queue { get; init; } = "";

        /// <summary>The supervisor saga's queue (fleet mode; a quorum queue).</summary>
        public string SagaQueue { get; init; } = "";

        /// <summary>The saga's PostgreSQL database (fleet mode).</summary>
        public string Postgres { get; init; } = "";

        /// <summary>The instance id in the fleet, also the RabbitMQ connection name's suffix.</summary>
        public string Instance { get; init; } = "";

        /// <summary>The connection name the management API shows for this instance's bus.</summary>
        public string ConnectionName => $"cluster-app-{Instance}";

        /// <summary>The node ports, this instance's own first.</summary>
        public int[] NodesOwnFirst => [OwnPort, .. ClusterPorts.Where(p => p != OwnPort)];

        public string[] ToArguments() =>
        [
            "--mode", Mode, "--host", Host, "--own", OwnPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--cluster", string.Join(',', ClusterPorts), "--user", User, "--password", Password, "--queue", Queue,
            "--saga-queue", SagaQueue, "--postgres", Postgres, "--instance", Instance
        ];

        public static ClusterAppSettings Parse(string[] args)
        {
            string Value(string name)
            {
                var i = Array.IndexOf(args, name);
                return i >= 0 && i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"missing {name}");
            }

            return new ClusterAppSettings
            {
                Mode = Value("--mode"),
                Host = Value("--host"),
                OwnPort = int.Parse(Value("--own"), System.Globalization.CultureInfo.InvariantCulture),
                ClusterPorts = Value("--cluster").Split(',').Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
                User = Value("--user"),
                Password = Value("--password"),
                Queue = Value("--queue"),
                SagaQueue = Value("--saga-queue"),
                Postgres = Value("--postgres"),
                Instance = Value("--instance")
            };
        }
    }
}
