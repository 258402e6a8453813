namespace MassTransit.Patterns.Docs.Snippets;

public sealed class OrderState : SagaStateMachineInstance, ISagaVersion
{
    public Guid CorrelationId { get; set; }
    public string CurrentState { get; set; } = "";
    public int Version { get; set; }
}

public sealed class OrderStateMachine : MassTransitStateMachine<OrderState>
{
    public OrderStateMachine()
    {
        InstanceState(x => x.CurrentState);
        Event(() => Placed, e => e.CorrelateById(m => m.Message.OrderId));
        Initially(When(Placed).TransitionTo(Accepted));
    }

    public State Accepted { get; private set; } = null!;
    public Event<OrderPlaced> Placed { get; private set; } = null!;
}
