using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit.Patterns.Ambulance;
using MassTransit.Patterns.RabbitMQ.QueueDepth;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using MassTransit.Transports;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition.Messages
{
    /// <summary>
    /// A unit of work for the composition tests: <see cref="Key"/> orders it (thread delegate, hold by key) and names its
    /// context (contextual queues), <see cref="Number"/> is its place in its key's sequence, <see cref="Poison"/> makes the
    /// consumer fail for good (<see cref="PoisonJobException"/>, never transient), <see cref="WorkMs"/> is how long it takes.
    /// </summary>
    public record Job(string Key, int Number, bool Poison = false, int WorkMs = 0);
}

namespace MassTransit.Patterns.RabbitMQ.Tests.Composition
{
    using Messages;

    /// <summary>The non-transient failure of a poison job: no retry helps.</summary>
    public sealed class PoisonJobException(string message) : Exception(message);

    /// <summary>One completed job: which message, from which queue, when it started and when it completed (<see cref="Stopwatch"/> timestamps).</summary>
    public sealed record Completion(Guid Id, string Key, int Number, string Queue, long Started, long At);

    /// <summary>What the job consumers of one test did: consumed by message id, completions in order, attempts, concurrency.</summary>
    public sealed class JobLog
    {
        readonly ConcurrentQueue<Completion> _completions = new();
        readonly ConcurrentDictionary<string, int> _active = new();
        readonly ConcurrentDictionary<string, int> _peak = new();
        readonly ConcurrentDictionary<Guid, int> _attempts = new();

        /// <summary>Jobs consumed, by message id (a resubmitted or released copy keeps its id).</summary>
        public ConsumedMessages Consumed { get; } = new();

        /// <summary>Completed jobs, in completion order.</summary>
        public IReadOnlyList<Completion> Completions => _completions.ToArray();

        /// <summary>Deliveries of <paramref name="id"/> that reached the consumer.</summary>
        public int Attempts(Guid id) => _attempts.GetValueOrDefault(id);

        /// <summary>The most jobs of <paramref name="queue"/> that ran at once.</summary>
        public int Peak(string queue) => _peak.GetValueOrDefault(queue);

        /// <summary>Numbers of <paramref name="key"/>, in completion order.</summary>
        public IReadOnlyList<int> Order(string key) => _completions.Where(c => c.Key == key).Select(c => c.Number).ToArray();

        /// <summary>The completion of <paramref name="id"/>, if any.</summary>
        public Completion? Of(Guid id) => _completions.FirstOrDefault(c => c.Id == id);

        internal long Enter(string queue, Guid id)
        {
            _attempts.AddOrUpdate(id, 1, (_, n) => n + 1);
            var now = _active.AddOrUpdate(queue, 1, (_, n) => n + 1);
            _peak.AddOrUpdate(queue, now, (_, peak) => Math.Max(peak, now));
            return Stopwatch.GetTimestamp();
        }

        internal void Leave(string queue) => _active.AddOrUpdate(queue, 0, (_, n) => n - 1);

        internal void Completed(ConsumeContext<Job> context, string queue, long started)
        {
            _completions.Enqueue(new Completion(context.MessageId!.Value, context.Message.Key, context.Message.Number, queue, started, Stopwatch.GetTimestamp()));
            Consumed.Record(context);
        }
    }

    /// <summary>Runs a job: a poison one throws <see cref="PoisonJobException"/>, the others take their time and are recorded.</summary>
    public sealed class JobConsumer(JobLog log) : IConsumer<Job>
    {
        public async Task Consume(ConsumeContext<Job> context)
        {
            var queue = context.ReceiveContext.InputAddress.GetEndpointName() ?? "";
            var started = log.Enter(queue, context.MessageId!.Value);
            try
            {
                if (context.Message.Poison)
                    throw new PoisonJobException($"job {context.Message.Key}/{context.Message.Number} is poison");
                if (context.Message.WorkMs > 0)
                    await Task.Delay(context.Message.WorkMs, context.CancellationToken);
                log.Completed(context, queue, started);
            }
            finally
            {
                log.Leave(queue);
            }
        }
    }

    /// <summary>Repairs a poison job whose key starts with "fixable": the repaired copy is not poison.</summary>
    public sealed class FixableJobRepairer : IMessageRepairer<Job>
    {
        public Task<RepairResult<Job>> Repair(MessageRepairContext<Job> context, CancellationToken cancellationToken) =>
            Task.FromResult(context.Message.Key.StartsWith("fixable", StringComparison.Ordinal)
                ? RepairResult<Job>.Repaired(context.Message with { Poison = false }, "cured the poison")
                : RepairResult<Job>.CannotRepair("not a fixable key"));
    }

    /// <summary>The broker and queue plumbing every composition test shares.</summary>
    public static class CompositionKit
    {
        /// <summary>The queues MassTransit and the patterns may put beside a receive endpoint's queue, and the lane's fork exchange.</summary>
        static readonly string[] Siblings = ["", "_error", "_skipped", "_lane", "_lane_error", "_lane_skipped"];

        public static void Host(IRabbitMqBusFactoryConfigurator cfg) =>
            cfg.Host(Broker.BusHost(), h =>
            {
                h.Username(ServiceEnvironment.RabbitUser);
                h.Password(ServiceEnvironment.RabbitPassword);
            });

        /// <summary>The AMQP depth probe's settings for the shared node.</summary>
        public static void Probe(RabbitMqProbeOptions o)
        {
            o.HostName = ServiceEnvironment.RabbitHost;
            o.Port = ServiceEnvironment.RabbitAmqpPort;
            o.UserName = ServiceEnvironment.RabbitUser;
            o.Password = ServiceEnvironment.RabbitPassword;
        }

        /// <summary>Sends <paramref name="job"/> with a new message id (urgent when told), returns the id.</summary>
        public static async Task<Guid> SendAsync(ISendEndpoint endpoint, Job job, bool urgent = false, CancellationToken cancellationToken = default)
        {
            var id = NewId.NextGuid();
            await endpoint.Send(job, c =>
            {
                c.MessageId = id;
                if (urgent)
                    c.SetUrgent();
            }, cancellationToken);
            return id;
        }

        /// <summary>Deletes each queue, its siblings and their exchanges, and a lane's fork exchange.</summary>
        public static async Task DeleteAsync(params string[] queues)
        {
            await using var connection = await Broker.Factory().CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            foreach (var queue in queues)
            {
                foreach (var suffix in Siblings)
                {
                    await channel.QueueDeleteAsync(queue + suffix);
                    await channel.ExchangeDeleteAsync(queue + suffix);
                }
                await channel.ExchangeDeleteAsync(queue + "_lane.urgent");
            }
        }

        /// <summary>The workflow state of each of <paramref name="ids"/> that has a workflow, read from the saga repository.</summary>
        public static async Task<Dictionary<Guid, WorkflowEventState>> WorkflowsAsync(IServiceProvider provider, IEnumerable<Guid> ids)
        {
            var repository = provider.GetRequiredService<ILoadSagaRepository<WorkflowEventState>>();
            var found = new Dictionary<Guid, WorkflowEventState>();
            foreach (var id in ids)
                if (await repository.Load(id) is { } state)
                    found[id] = state;
            return found;
        }

        /// <summary>A place of an account: the ids among <paramref name="ids"/> whose workflow is in <paramref name="state"/>.</summary>
        public static Func<CancellationToken, Task<PlaceReading>> InWorkflowState(IServiceProvider provider, IReadOnlyCollection<Guid> ids, string state) =>
            async _ => PlaceReading.Of((await WorkflowsAsync(provider, ids)).Where(w => w.Value.CurrentState == state).Select(w => w.Key).ToArray());

        /// <summary>Writes a line to the test's output.</summary>
        public static void Print(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);
    }
}
