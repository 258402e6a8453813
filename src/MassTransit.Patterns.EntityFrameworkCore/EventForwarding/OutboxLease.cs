namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// The delivery lease: the one outbox delivery service (of all instances sharing the database) that
/// holds it delivers; the others wait until it expires or is released.
/// </summary>
public sealed class OutboxLease
{
    /// <summary>The lease's name.</summary>
    public string Name { get; set; } = "";

    /// <summary>The delivery service holding it.</summary>
    public Guid? Owner { get; set; }

    /// <summary>When it expires unless renewed (UTC).</summary>
    public DateTime ExpiresAt { get; set; }
}
