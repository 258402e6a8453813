namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// Implemented by a consumer or saga definition to ask for an ambulance lane beside its endpoint:
/// <c>UseAmbulanceLane</c> finds it through the bus registration (no <c>a.Endpoint(...)</c> needed).
/// </summary>
/// <example>
/// <code>
/// public class PlaceOrderDefinition : ConsumerDefinition&lt;PlaceOrderConsumer&gt;, IAmbulanceLaneDefinition
/// {
///     public void ConfigureLane(AmbulanceLaneOptions lane) => lane.ConcurrentMessageLimit = 2;
/// }
/// </code>
/// </example>
public interface IAmbulanceLaneDefinition
{
    /// <summary>Sets the lane's options; <see cref="AmbulanceLaneOptions.QueueName"/> is the definition's endpoint name.</summary>
    void ConfigureLane(AmbulanceLaneOptions lane);
}
