namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// The header that marks a message urgent, and the values the lane routing relies on. The broker
/// routes on the exact value <see cref="True"/>, so every part of the pattern writes and reads it
/// through <c>SetUrgent()</c> and <c>IsUrgent()</c>.
/// </summary>
public static class AmbulanceHeaders
{
    /// <summary>The header name: <c>MT-Patterns-Urgent</c>. Its value is <c>true</c> or <c>false</c>.</summary>
    public const string Urgent = "MT-Patterns-Urgent";

    /// <summary>The value that marks a message urgent, compared ordinally (RabbitMQ's headers exchange matches it exactly).</summary>
    public const string True = "true";

    /// <summary>The value that marks a message explicitly not urgent, overriding predicates and attributes.</summary>
    public const string False = "false";
}
