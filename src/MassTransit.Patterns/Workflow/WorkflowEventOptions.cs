using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// Options of one endpoint's workflow event filter: which failures are handed to the workflow
/// processor, which are retried in place first, and where the processor listens.
/// </summary>
public sealed class WorkflowEventOptions : IPatternOptions
{
    readonly List<Func<Exception, bool>> _delegated = [];
    readonly List<Func<Exception, bool>> _transient = [];
    readonly List<Func<Exception, bool>> _errorPath = [];
    bool _transientDefaults = true;
    readonly List<Func<ConsumeContext, KeyedMessage?>> _keys = [];

    Uri? _repairAddress;

    /// <summary>
    /// The workflow processor's address. Left unset, it follows the processor registered in the same container
    /// (<c>queue:</c> + <see cref="WorkflowProcessorOptions.QueueName"/>, when <c>UseWorkflowEvent</c> is given the
    /// registration context), else <c>queue:workflow-repair</c>. Set to another queue than that processor's, the
    /// start fails. Set it for a processor in another process, or to <c>exchange:NAME</c> on RabbitMQ when the
    /// processor's queue has arguments.
    /// </summary>
    public Uri RepairAddress
    {
        get => _repairAddress ?? WorkflowProcessorOptions.DefaultAddress;
        set => _repairAddress = value;
    }

    /// <summary>True when <see cref="RepairAddress"/> was set.</summary>
    internal bool RepairAddressSet => _repairAddress is not null;

    /// <summary>Automatic repair attempts for this endpoint's messages before a person must act; null uses the processor's <see cref="WorkflowProcessorOptions.MaxRepairAttempts"/>.</summary>
    public int? MaxRepairAttempts { get; set; }

    /// <summary>
    /// In-place retries of a transient failure, run by the filter around the consumers (a fresh scope per
    /// attempt); 0 turns them off, e.g. when the consumers have MassTransit's <c>UseMessageRetry</c>.
    /// </summary>
    public int RetryLimit { get; set; } = 3;

    /// <summary>The interval between in-place retries.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>When in-place retries of a transient failure are exhausted: hand it to the processor (true, default) or take the normal error path (false).</summary>
    public bool DelegateExhaustedRetries { get; set; } = true;

    /// <summary>Capture bodies that cannot be deserialized into the processor instead of the error queue (default true).</summary>
    public bool CaptureMalformed { get; set; } = true;

    /// <summary>
    /// Holds by key: while a message of key K waits in the processor (being repaired or waiting for a
    /// person), the endpoint's later messages of K are held behind it and released in the order received
    /// once it is completed or discarded. Needs <c>x.AddWorkflowEventHoldByKey()</c>. A null or empty key
    /// is never held.
    /// </summary>
    public WorkflowEventOptions HoldByKey<T>(Func<T, string?> key)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(key);
        _keys.Add(context => context.TryGetMessage<T>(out var message) && key(message.Message) is { Length: > 0 } value ? new KeyedMessage(value, message.NotifyConsumed) : null);
        return this;
    }

    /// <summary>True when some message type is held by key.</summary>
    public bool HoldsByKey => _keys.Count > 0;

    internal KeyedMessage? KeyOf(ConsumeContext context)
    {
        try
        {
            foreach (var key in _keys)
                if (key(context) is { } keyed)
                    return keyed;
        }
        catch (Exception)
        {
            // A body that does not deserialize, or a selector that throws: no key, not held; the consume
            // path below handles the message (a malformed body is captured there).
        }
        return null;
    }

    /// <summary>
    /// Hands failures with <typeparamref name="TException"/> (optionally only when <paramref name="when"/>
    /// holds) to the processor. Without any <c>Delegate</c> call every failure that is neither transient
    /// nor sent to the error path is delegated.
    /// </summary>
    public WorkflowEventOptions Delegate<TException>(Func<TException, bool>? when = null)
        where TException : Exception
    {
        _delegated.Add(Match(when));
        return this;
    }

    /// <summary>
    /// Retries failures with <typeparamref name="TException"/> in place first (<see cref="RetryLimit"/>
    /// times, <see cref="RetryInterval"/> apart). The first call replaces the default transient set
    /// (a <see cref="TimeoutException"/>, also as an inner exception: <c>HttpClient</c> reports its timeout as a
    /// <see cref="TaskCanceledException"/> around one).
    /// </summary>
    public WorkflowEventOptions RetryInPlace<TException>(Func<TException, bool>? when = null)
        where TException : Exception
    {
        if (_transientDefaults)
        {
            _transient.Clear();
            _transientDefaults = false;
        }
        _transient.Add(Match(when));
        return this;
    }

    /// <summary>Failures with <typeparamref name="TException"/> take MassTransit's normal error path (the <c>_error</c> queue), not the processor.</summary>
    public WorkflowEventOptions UseErrorQueue<TException>(Func<TException, bool>? when = null)
        where TException : Exception
    {
        _errorPath.Add(Match(when));
        return this;
    }

    /// <summary>True when <paramref name="exception"/> is retried in place.</summary>
    public bool IsTransient(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (_transientDefaults)
            return IsTimeout(exception);
        return _transient.Any(m => m(exception));
    }

    static bool IsTimeout(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is TimeoutException)
                return true;
        return false;
    }

    /// <summary>
    /// What happens to a failure that reached the filter (after any in-place retries). A cancellation
    /// exception is classified like any other: the filter itself lets a failure bypass the pattern only
    /// when the consume context's token is cancelled (the endpoint is stopping).
    /// </summary>
    public WorkflowDecision Classify(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (_errorPath.Any(m => m(exception)))
            return WorkflowDecision.ErrorPath;
        if (IsTransient(exception))
            return DelegateExhaustedRetries ? WorkflowDecision.Delegate : WorkflowDecision.ErrorPath;
        if (IsDeserialization(exception))
            return CaptureMalformed ? WorkflowDecision.Delegate : WorkflowDecision.ErrorPath;
        return _delegated.Count == 0 || _delegated.Any(m => m(exception)) ? WorkflowDecision.Delegate : WorkflowDecision.ErrorPath;
    }

    internal static bool IsDeserialization(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is System.Runtime.Serialization.SerializationException or System.Text.Json.JsonException)
                return true;
        return false;
    }

    static Func<Exception, bool> Match<TException>(Func<TException, bool>? when)
        where TException : Exception =>
        e => e is TException t && (when is null || when(t));

    /// <inheritdoc />
    public void Validate(OptionsValidator validator)
    {
        validator.NotNull(RepairAddress, nameof(RepairAddress));
        validator.NotNegative(RetryLimit, nameof(RetryLimit));
        if (RetryLimit > 0)
            validator.Positive(RetryInterval, nameof(RetryInterval));
        if (MaxRepairAttempts is { } max)
            validator.NotNegative(max, nameof(MaxRepairAttempts));
    }
}
