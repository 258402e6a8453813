using System.Runtime.CompilerServices;
using MassTransit.Configuration;
using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ThreadDelegate;

/// <summary>Turns on the thread delegate pattern: per-key order with parallel lanes.</summary>
public static class ThreadDelegateConfigurationExtensions
{
    static readonly ConditionalWeakTable<IReceiveEndpointConfigurator, ThreadDelegateSpecification> Specifications = new();

    /// <summary>
    /// Orders this endpoint's messages by key: messages with the same key complete one at a time in
    /// delivery order, different keys run in parallel on <see cref="ThreadDelegateOptions.Workers"/>
    /// lanes. Name each ordered message type and its key with <c>o.Key&lt;T&gt;(m =&gt; m.AccountId)</c>.
    /// Call it again on the same endpoint (for instance from each consumer's definition) to add message
    /// types: the calls share one set of options and lanes. Retry configured with <c>UseMessageRetry</c>
    /// runs inside the lane, so a retried message keeps its key's place. The transport's delivery order
    /// is chosen with <see cref="ThreadDelegateOptions.DeliveryOrder"/> (needed on every transport but
    /// the in-memory one: on RabbitMQ <c>o.UseRabbitMqDeliveryOrder()</c>); without it start-up fails.
    /// </summary>
    /// <returns>The endpoint's options (shared by every call on the endpoint).</returns>
    public static ThreadDelegateOptions UseThreadDelegate(this IReceiveEndpointConfigurator configurator, Action<ThreadDelegateOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        ArgumentNullException.ThrowIfNull(configure);

        var specification = Specifications.GetValue(configurator, static c =>
        {
            var created = new ThreadDelegateSpecification(c);
            c.ConfigureReceive(r => r.AddPipeSpecification(created));
            c.AddPrePipeSpecification(created.ConsumeSpecification);
            c.ConnectReceiveEndpointObserver(created);
            return created;
        });

        var options = specification.Options;
        configure(options);
        EndpointClaims.Claim(configurator, "UseThreadDelegate", EndpointTakeover.Concurrency | EndpointTakeover.DeliveryOrder, EndpointTakeover.None,
            "runs each key's messages one at a time in this endpoint's delivery order, within a concurrent message limit and prefetch of Workers + MaxBuffered (its delivery buffer)");

        if (options.ConfigureTransportConcurrency && options.Workers > 0 && options.EffectiveMaxBuffered > 0)
        {
            // The transport's concurrent deliveries are the delivery buffer: Workers running + MaxBuffered waiting.
            var limit = options.Workers + options.EffectiveMaxBuffered;
            configurator.ConcurrentMessageLimit = limit;
            if (configurator.PrefetchCount < limit)
                configurator.PrefetchCount = limit;
        }
        return options;
    }

    /// <summary>Orders messages of type <typeparamref name="T"/> by <paramref name="key"/> (see the other overload).</summary>
    public static ThreadDelegateOptions UseThreadDelegate<T>(this IReceiveEndpointConfigurator configurator, Func<T, string?> key, Action<ThreadDelegateOptions>? configure = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(key);
        return configurator.UseThreadDelegate(o =>
        {
            o.Key(key);
            configure?.Invoke(o);
        });
    }
}

/// <summary>The endpoint's thread delegate: a receive filter (delivery order) and a consume pre-filter (lanes) sharing one dispatcher.</summary>
sealed class ThreadDelegateSpecification : IPipeSpecification<ReceiveContext>, IReceiveEndpointObserver
{
    readonly IReceiveEndpointConfigurator _endpoint;
    readonly object _dispatcherLock = new();
    ThreadDelegateDispatcher? _dispatcher;

    public ThreadDelegateSpecification(IReceiveEndpointConfigurator endpoint)
    {
        _endpoint = endpoint;
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
                return _dispatcher ??= new ThreadDelegateDispatcher(EndpointName, Options);
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
