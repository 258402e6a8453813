namespace MassTransit.Patterns.Configuration;

/// <summary>One failing option: its full name and why it fails.</summary>
/// <param name="Option">The option's name, e.g. <c>QueueDepthPollingOptions.PollInterval</c>.</param>
/// <param name="Message">What is wrong, including the value given.</param>
public sealed record OptionFailure(string Option, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"{Option} {Message}";
}
