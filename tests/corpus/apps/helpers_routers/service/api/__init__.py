from service.api.items import router as items
from service.api.events import router as events
