namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>The answer to an operations action.</summary>
/// <param name="Status">Its HTTP status.</param>
/// <param name="Outcome">What happened (or why not).</param>
/// <param name="Target">What it acted on.</param>
sealed record OperationsActionResponse(int Status, string Outcome, string? Target);
