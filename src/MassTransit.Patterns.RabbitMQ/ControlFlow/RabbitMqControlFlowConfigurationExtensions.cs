namespace MassTransit;

/// <summary>
/// The broker's own last line of defence under producer control flow: RabbitMQ caps the queue at a
/// number of ready messages and refuses (negatively confirms) every publish beyond it, so a producer
/// that ignores or never learns the flow state still cannot grow the queue without bound.
/// </summary>
public static class RabbitMqControlFlowConfigurationExtensions
{
    /// <summary>
    /// Declares the endpoint's queue with <c>x-max-length</c> = <paramref name="maxLength"/> and
    /// <c>x-overflow</c> = <c>reject-publish</c>. Nothing already in the queue is dropped to make
    /// room; a publish beyond the limit is negatively confirmed, and MassTransit's send transport
    /// retries it (with publisher confirms on, its default) until the queue has room or the
    /// caller's cancellation token fires: the producer is held, and a cancelled send was not stored.
    /// Set the limit well above the flow monitor's stop mark: it is the net under the watermarks,
    /// not a replacement for them.
    /// </summary>
    /// <remarks>
    /// Queue arguments are fixed when a queue is declared: an existing queue declared without them
    /// must be deleted (or given a policy) first, and producers must send to <c>exchange:NAME</c>,
    /// not <c>queue:NAME</c>, which would re-declare the queue without the arguments.
    /// </remarks>
    public static void SetQueueHardLimit(this IRabbitMqReceiveEndpointConfigurator configurator, long maxLength)
    {
        ArgumentNullException.ThrowIfNull(configurator);
        if (maxLength <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "SetQueueHardLimit: maxLength must be greater than 0.");
        configurator.SetQueueArgument("x-max-length", maxLength);
        configurator.SetQueueArgument("x-overflow", "reject-publish");
    }
}
