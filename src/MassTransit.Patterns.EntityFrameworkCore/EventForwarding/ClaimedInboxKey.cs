namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>A key the batched claim inserted (read with <c>SqlQueryRaw</c>).</summary>
sealed class ClaimedInboxKey
{
    public Guid MessageId { get; set; }

    public Guid ConsumerId { get; set; }
}
