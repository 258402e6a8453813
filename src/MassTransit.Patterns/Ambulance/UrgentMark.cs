using System.Text;

namespace MassTransit.Patterns.Ambulance;

/// <summary>Reads the urgent mark (<see cref="AmbulanceHeaders.Urgent"/>) from headers, as the classifier, the transports and control flow need it.</summary>
static class UrgentMark
{
    /// <summary>True when the headers carry <see cref="AmbulanceHeaders.Urgent"/> = <c>true</c>.</summary>
    public static bool IsUrgent(Headers headers) => Read(headers) == true;

    /// <summary>The mark: true (urgent), false (explicitly not urgent) or null (not marked).</summary>
    public static bool? Read(Headers headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        if (!headers.TryGetHeader(AmbulanceHeaders.Urgent, out var value) || value is null)
            return null;
        return value switch
        {
            string s => Parse(s),
            byte[] bytes => Parse(Encoding.UTF8.GetString(bytes)),
            bool b => b,
            _ => Parse(value.ToString())
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

    static bool? Parse(string? value) =>
        string.Equals(value, AmbulanceHeaders.True, StringComparison.OrdinalIgnoreCase) ? true
        : string.Equals(value, AmbulanceHeaders.False, StringComparison.OrdinalIgnoreCase) ? false
        : null;
}
