using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas.Messages
{
    public record OpenTally(Guid TallyId, string Name);

    public record AddToTally(Guid TallyId, int Number);

    public record CloseTallyByName(string Name);
}

namespace MassTransit.Patterns.EntityFrameworkCore.Tests.Sagas
{
    using Messages;

    /// <summary>A saga that counts what it is told, so lost or doubled updates show in its state.</summary>
    public sealed class TallyState : SagaStateMachineInstance
    {
        public Guid CorrelationId { get; set; }
        public string CurrentState { get; set; } = "";
        public string Name { get; set; } = "";
        public int Opens { get; set; }
        public int Count { get; set; }
        public string Applied { get; set; } = "";
    }

    public sealed class TallyStateMachine : MassTransitStateMachine<TallyState>
    {
        public TallyStateMachine()
        {
            InstanceState(x => x.CurrentState);
            Event(() => Opened, e => e.CorrelateById(m => m.Message.TallyId));
            Event(() => Added, e =>
            {
                e.CorrelateById(m => m.Message.TallyId);
                e.OnMissingInstance(m => m.Fault());
            });
            Event(() => ClosedByName, e =>
            {
                e.CorrelateBy((saga, m) => saga.Name == m.Message.Name);
                e.OnMissingInstance(m => m.Discard());
            });

            Initially(When(Opened)
                .Then(c =>
                {
                    c.Saga.Name = c.Message.Name;
                    c.Saga.Opens++;
                })
                .TransitionTo(Open));

            During(Open,
                When(Opened).Then(c => c.Saga.Opens++),
                When(Added).ThenAsync(async c =>
                {
                    // Real sagas do work between load and save (publish, call out): overlap the instances' reads and writes.
                    await Task.Delay(2);
                    c.Saga.Count++;
                    c.Saga.Applied += c.Message.Number + ",";
                }),
                When(ClosedByName).Finalize());

            SetCompletedWhenFinalized();
        }

        public State Open { get; private set; } = null!;
        public Event<OpenTally> Opened { get; private set; } = null!;
        public Event<AddToTally> Added { get; private set; } = null!;
        public Event<CloseTallyByName> ClosedByName { get; private set; } = null!;
    }

    /// <summary>The saga's endpoint: concurrent, with conflicts retried and publishes held until the attempt commits.</summary>
    public sealed class TallySagaDefinition : SagaDefinition<TallyState>
    {
        public const int Concurrency = 8;

        public TallySagaDefinition()
        {
            ConcurrentMessageLimit = Concurrency;
        }

        protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<TallyState> sagaConfigurator,
            IRegistrationContext context)
        {
            endpointConfigurator.UseSagaConcurrencyRetry();
            endpointConfigurator.UseInMemoryOutbox(context);
        }
    }

    /// <summary>The application's own DbContext, with the saga mapped into it.</summary>
    public sealed class TallyDb(DbContextOptions<TallyDb> options) : DbContext(options)
    {
        protected override void OnModelCreating(ModelBuilder modelBuilder)
        {
            modelBuilder.AddSagaInstance<TallyState>(b =>
            {
                b.Property(x => x.CurrentState).HasMaxLength(64);
                b.Property(x => x.Name).HasMaxLength(128);
                b.HasIndex(x => x.Name);
            });
        }
    }
}
