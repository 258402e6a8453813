namespace MassTransit.Patterns.Contextual;

/// <summary>The life of a context (or bucket) queue.</summary>
public enum ContextQueueState
{
    /// <summary>Its endpoint is being connected; its binding does not exist yet.</summary>
    Creating,

    /// <summary>Bound and consuming.</summary>
    Active,

    /// <summary>Unbound; draining what is left before deletion.</summary>
    Retiring
}
