namespace MassTransit.Patterns.Diagnostics;

/// <summary>Tag names used across the patterns' instruments and activities.</summary>
public static class PatternsTags
{
    /// <summary>The queue a measurement refers to.</summary>
    public const string Queue = "messaging.destination.name";

    /// <summary>The pattern that recorded a measurement (ambulance, supervisor, ...).</summary>
    public const string Pattern = "masstransit.patterns.pattern";

    /// <summary>The probe or component that produced a measurement.</summary>
    public const string Source = "masstransit.patterns.source";

    /// <summary>An outcome such as ok, failed, not_found.</summary>
    public const string Outcome = "masstransit.patterns.outcome";
}
