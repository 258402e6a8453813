using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>The endpoint's thread delegate: a receive filter (delivery order) and a consume pre-filter (lanes) sharing one dispatcher.</summary>
internal sealed class ThreadDelegateSpecification : IPipeSpecification<ReceiveContext>, IReceiveEndpointObserver
{
    readonly IReceiveEndpointConfigurator _endpoint;
    readonly object _dispatcherLock = new();
    ThreadDelegateDispatcher? _dispatcher;

    readonly ThreadDelegateMetrics _metrics;

    public ThreadDelegateSpecification(IReceiveEndpointConfigurator endpoint, ThreadDelegateMetrics metrics)
    {
        _endpoint = endpoint;
        _metrics = metrics;
        ConsumeSpecification = new LaneSpecification(this);
    }

    public ThreadDelegateOptions Options { get; } = new();

    public IPipeSpecification<ConsumeContext> ConsumeSpecification { get; }

    string EndpointName => _endpoint.InputAddress.AbsolutePath.Trim('/').Split('/').LastOrDefault() is { Length: > 0 } name ? name : _endpoint.InputAddress.ToString();

    ThreadDelegateDispatcher Dispatcher
    {
        get
        {
            lock (_dispatcherLock)
                return _dispatcher ??= new ThreadDelegateDispatcher(EndpointName, Options, _metrics);
        }
    }

    public void Apply(IPipeBuilder<ReceiveContext> builder)
    {
        // The in-memory transport runs one reader per concurrent delivery: its start-up batch is complete
        // when each of them has taken a message (see ThreadDelegateDispatcher.JoinStartupBatch).
        if (_endpoint is IInMemoryReceiveEndpointConfigurator)
            Dispatcher.Readers = _endpoint.ConcurrentMessageLimit ?? _endpoint.PrefetchCount;
        builder.AddFilter(new DeliveryOrderFilter(Dispatcher));
    }

    public IEnumerable<ValidationResult> Validate()
    {
        var validator = Options.CreateValidator($"ThreadDelegateOptions[{EndpointName}]");
        // The delivery order is chosen, never guessed: only the in-memory transport's order is known without one.
        if (Options.DeliveryOrder is { } order)
            validator.Require(order.Supports(_endpoint), nameof(ThreadDelegateOptions.DeliveryOrder),
                $"({order.GetType().Name}) cannot read positions on the {Scheme} endpoint ({_endpoint.GetType().Name}): choose the order of the endpoint's transport.");
        else
            validator.Require(_endpoint is IInMemoryReceiveEndpointConfigurator, nameof(ThreadDelegateOptions.DeliveryOrder), MissingOrderMessage);
        return validator.ToValidationResults();
    }

    string Scheme => _endpoint.InputAddress.Scheme;

    string MissingOrderMessage => Scheme.StartsWith("rabbitmq", StringComparison.OrdinalIgnoreCase)
        ? "must be set on a RabbitMQ endpoint, or per-key order would rest on arrival order: call o.UseRabbitMqDeliveryOrder() (MassTransit.Patterns.RabbitMQ: delivery tags, exact), or configure the endpoint through the IRabbitMqReceiveEndpointConfigurator overload of UseThreadDelegate."
        : $"must be set on a {Scheme} endpoint: the thread delegate cannot read this transport's delivery order. Set o.DeliveryOrder to an IDeliveryOrder for it, or call o.UseArrivalOrder() to accept order of arrival at the filter (best effort).";

    Task IReceiveEndpointObserver.Ready(ReceiveEndpointReady ready)
    {
        _dispatcher?.Ready();
        return Task.CompletedTask;
    }

    Task IReceiveEndpointObserver.Stopping(ReceiveEndpointStopping stopping)
    {
        _dispatcher?.Stopping();
        return Task.CompletedTask;
    }

    Task IReceiveEndpointObserver.Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;

    Task IReceiveEndpointObserver.Faulted(ReceiveEndpointFaulted faulted) => Task.CompletedTask;

    sealed class LaneSpecification(ThreadDelegateSpecification owner) : IPipeSpecification<ConsumeContext>
    {
        public void Apply(IPipeBuilder<ConsumeContext> builder) => builder.AddFilter(new ThreadDelegateFilter(owner.Dispatcher));

        public IEnumerable<ValidationResult> Validate() => [];
    }
}
