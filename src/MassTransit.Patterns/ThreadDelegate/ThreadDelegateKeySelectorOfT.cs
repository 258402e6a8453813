using MassTransit.Patterns.Configuration;

namespace MassTransit.Patterns.ThreadDelegate;

sealed class ThreadDelegateKeySelector<T>(Func<ConsumeContext<T>, string?> selector) : ThreadDelegateKeySelector(typeof(T))
    where T : class
{
    internal override bool TryGetKey(ConsumeContext context, out string? key)
    {
        if (context is ConsumeContext<T> typed || (context.HasMessageType(typeof(T)) && context.TryGetMessage(out typed!)))
        {
            key = selector(typed);
            return true;
        }
        key = null;
        return false;
    }
}
