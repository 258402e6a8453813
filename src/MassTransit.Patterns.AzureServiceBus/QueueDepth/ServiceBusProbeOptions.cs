using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.AzureServiceBus.QueueDepth;

/// <summary>Where the Azure Service Bus probe connects. The connection string comes from configuration.</summary>
public sealed class ServiceBusProbeOptions : IPatternOptions
{
    /// <summary>A connection string with Manage rights; never logged.</summary>
    public string? ConnectionString { get; set; }

    /// <inheritdoc />
    public void Validate(OptionsValidator validator) => validator.NotEmpty(ConnectionString, nameof(ConnectionString));
}
