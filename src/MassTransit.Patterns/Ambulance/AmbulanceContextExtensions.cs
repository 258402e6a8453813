using System.Text;

namespace MassTransit.Patterns.Ambulance;

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
    public static bool IsUrgent(this SendContext context) => IsUrgent(context.Headers);

    /// <summary>True when the consumed message was marked urgent (it reached the lane, or a queue without one).</summary>
    public static bool IsUrgent(this ConsumeContext context) => IsUrgent(context.ReceiveContext.TransportHeaders);

    /// <summary>True when the received message was marked urgent.</summary>
    public static bool IsUrgent(this ReceiveContext context) => IsUrgent(context.TransportHeaders);

    /// <summary>True when the headers carry <see cref="AmbulanceHeaders.Urgent"/> = <c>true</c>.</summary>
    public static bool IsUrgent(Headers headers) => ReadMark(headers) == true;

    /// <summary>The mark: true (urgent), false (explicitly not urgent) or null (not marked).</summary>
    public static bool? ReadMark(Headers headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        if (!headers.TryGetHeader(AmbulanceHeaders.Urgent, out var value) || value is null)
            return null;
        return value switch
        {
            string s => ParseMark(s),
            byte[] bytes => ParseMark(Encoding.UTF8.GetString(bytes)),
            bool b => b,
            _ => ParseMark(value.ToString())
        };
    }

    /// <summary>
    /// True when the header holds exactly <see cref="AmbulanceHeaders.True"/> (ordinal), the value a
    /// broker's header routing matches. A transport deciding that a message was copied to a lane
    /// must use this test, not <see cref="IsUrgent(Headers)"/>, so that it agrees with the broker.
    /// </summary>
    public static bool HasRoutingMark(Headers headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        if (!headers.TryGetHeader(AmbulanceHeaders.Urgent, out var value))
            return false;
        return value switch
        {
            string s => string.Equals(s, AmbulanceHeaders.True, StringComparison.Ordinal),
            byte[] bytes => bytes.AsSpan().SequenceEqual("true"u8),
            _ => false
        };
    }

    static bool? ParseMark(string? value) =>
        string.Equals(value, AmbulanceHeaders.True, StringComparison.OrdinalIgnoreCase) ? true
        : string.Equals(value, AmbulanceHeaders.False, StringComparison.OrdinalIgnoreCase) ? false
        : null;
}
