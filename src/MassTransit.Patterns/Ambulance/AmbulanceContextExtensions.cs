using MassTransit.Patterns.Ambulance;

namespace MassTransit;

/// <summary>Marks messages urgent when sending and tells whether a received message is urgent.</summary>
public static class AmbulanceContextExtensions
{
    /// <summary>
    /// Marks the message urgent (or, with <paramref name="urgent"/> false, explicitly not urgent,
    /// which overrides the bus's predicates and <see cref="UrgentAttribute"/>). An urgent message
    /// goes to the ambulance lane of every endpoint that has one and to the normal queue of those
    /// that do not; its address is not changed, so responses, faults and redeliveries work as usual.
    /// </summary>
    /// <example><c>await endpoint.Send(order, ctx => ctx.SetUrgent());</c></example>
    public static T SetUrgent<T>(this T context, bool urgent = true)
        where T : SendContext
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Headers.Set(AmbulanceHeaders.Urgent, urgent ? AmbulanceHeaders.True : AmbulanceHeaders.False);
        return context;
    }

    /// <summary>True when the send context carries the urgent mark.</summary>
    public static bool IsUrgent(this SendContext context) => UrgentMark.IsUrgent(context.Headers);

    /// <summary>True when the consumed message was marked urgent (it reached the lane, or a queue without one).</summary>
    public static bool IsUrgent(this ConsumeContext context) => UrgentMark.IsUrgent(context.ReceiveContext.TransportHeaders);

    /// <summary>True when the received message was marked urgent.</summary>
    public static bool IsUrgent(this ReceiveContext context) => UrgentMark.IsUrgent(context.TransportHeaders);
}
