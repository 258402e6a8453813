namespace MassTransit.Patterns.Configuration;

/// <summary>A failing option reported through MassTransit's configuration validation.</summary>
sealed record OptionValidationResult(string Key, string Message) : ValidationResult
{
    public ValidationResultDisposition Disposition => ValidationResultDisposition.Failure;

    public string? Value => null;
}
