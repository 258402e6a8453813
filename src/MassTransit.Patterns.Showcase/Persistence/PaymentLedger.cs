namespace MassTransit.Patterns.Showcase.Messages
{
    /// <summary>A ledger for one customer opens.</summary>
    public record LedgerOpened(Guid LedgerId, string Customer);

    /// <summary>A payment lands on a ledger; many arrive at once.</summary>
    public record PaymentPosted(Guid LedgerId, Guid PaymentId, long AmountCents);
}

namespace MassTransit.Patterns.Showcase.Persistence
{
    using Messages;

    /// <summary>A ledger's state: the running total must equal the sum of every payment, each once.</summary>
    public sealed class PaymentLedgerState : SagaStateMachineInstance
    {
        public Guid CorrelationId { get; set; }
        public string CurrentState { get; set; } = "";
        public string Customer { get; set; } = "";
        public int Payments { get; set; }
        public long TotalCents { get; set; }
    }

    public sealed class PaymentLedgerStateMachine : MassTransitStateMachine<PaymentLedgerState>
    {
        public PaymentLedgerStateMachine()
        {
            InstanceState(x => x.CurrentState);
            Event(() => Opened, e => e.CorrelateById(m => m.Message.LedgerId));
            Event(() => Posted, e =>
            {
                e.CorrelateById(m => m.Message.LedgerId);
                e.OnMissingInstance(m => m.Fault());
            });

            Initially(When(Opened).Then(c => c.Saga.Customer = c.Message.Customer).TransitionTo(Active));
            During(Active,
                Ignore(Opened),
                When(Posted).ThenAsync(async c =>
                {
                    await Task.Yield();
                    c.Saga.Payments++;
                    c.Saga.TotalCents += c.Message.AmountCents;
                }));
        }

        public State Active { get; private set; } = null!;
        public Event<LedgerOpened> Opened { get; private set; } = null!;
        public Event<PaymentPosted> Posted { get; private set; } = null!;
    }
}
