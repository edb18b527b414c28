"""The shop skill's vocabulary: phrases that signal each intent, in English and French.

Phrases are compared on normalized text (no accents, no apostrophes: "what's" -> "what s").
"""

from __future__ import annotations


def phrases(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split("|") if p.strip())


KB_TOPICS = phrases(
    "deliver|delivery|delivered|shipping|ship|shipped|parcel|courier|arrive|return|returns|refund|"
    "refunded|money back|store|storage|keep|fridge|pay|payment|card|paypal|cancel|pick up|pickup|"
    "collect|track|tracking|gift message|allergens|traces|cooperative|damaged|spoiled|late|missing|"
    "livraison|livrer|livrez|livre|expedition|colis|retour|retourner|rembourse|remboursement|"
    "rembourser|conserver|conservation|garder|frigo|refrigerateur|paiement|payer|carte|annuler|"
    "retrait|suivi|abime|recevoir|policy|politique"
)
ORDER = phrases(
    "place the order|place my order|place an order|place order|checkout|check out|"
    "confirm the order|confirm my order|i want to order|i d like to order|order now|"
    "go ahead and order|buy everything|"
    "passer la commande|passer commande|passe la commande|passer ma commande|valider la commande|"
    "valide la commande|valider mon panier|je commande|je veux commander"
)
FINISH = phrases(
    "that s all|that s it|nothing else|i m done|no thanks|goodbye|bye|see you|c est tout|"
    "rien d autre|au revoir|non merci|j ai fini|a bientot"
)
ADD = phrases(
    "add|put|take|i ll take|i will take|buy|get me|i d like|i want|i ll have|ajoute|ajouter|"
    "ajoutez|mets|mettez|prends|prendre|je voudrais|je veux|acheter|achete"
)
REMOVE = phrases(
    "remove|take out|delete|drop|don t want|do not want|no longer want|enleve|enlever|retire|"
    "retirer|supprime|supprimer|enlevez|retirez"
)
CHANGE = phrases(
    "change|set|make|make it|make that|instead|update|quantity|actually|modifie|modifier|au lieu|"
    "plutot|quantite|passe a|mets en"
)
CART = phrases("cart|basket|panier")
CART_LIST = phrases("what s in|how much is my|what do i have|qu est ce qu il y a|contenu")
CART_CLEAR = phrases("empty|clear|vider|vide|videz")
SELECTION = phrases("selection|shortlist|short list|aside|favourites|favorites|de cote")
COMPARE = phrases(
    "compare|comparison|difference|differences|versus|vs|comparer|comparaison|which is better|"
    "lequel est meilleur"
)
TABLE = phrases("table|benchmark|chart|grid|tableau")
HIGHLIGHT = phrases(
    "highlight|recommend|suggest|your pick|best one|what would you choose|mets en avant|recommande|"
    "recommandes|conseille|conseilles|suggere"
)
PRODUCER = phrases(
    "who makes|who made|who produces|producer|maker|made by|farm|where does|where do|come from|"
    "producteur|productrice|qui fait|qui fabrique|qui produit|d ou vient|d ou viennent|la ferme|"
    "fabrique|fabriquent|who is|who are|qui est|qui sont|qui le fait|qui la fait|qui les fait|"
    "qui le produit|qui la produit"
)
DISPLAY = phrases(
    "more about|tell me about|details|detail|describe|what is|what s|sheet|show me|info|"
    "information|is it|does it|parle moi|parlez moi|plus d info|c est quoi|qu est ce que|"
    "fiche|decris|montre moi|montrez moi|est il|est ce"
)
SEARCH = phrases(
    "do you have|do you sell|have you got|looking for|look for|search|find|show me|i need|i want|"
    "something|any|avez vous|vous avez|vendez|je cherche|cherche|trouve|montre|quelque chose"
)
CATALOGUE_QUESTION = phrases(
    "what do you sell|what do you have|what can i buy|what products|que vendez vous|"
    "qu est ce que vous vendez|qu avez vous|que proposez vous"
)
RECALL = phrases(
    "what s my name|what is my name|do you remember me|what do you know about me|remember me|"
    "comment je m appelle|quel est mon nom|tu te souviens|vous vous souvenez|te souviens tu"
)
GREETING = phrases("hello|hi|hey|bonjour|salut|bonsoir|good morning")
QUESTION = phrases("how|what|when|where|why|can i|do you|comment|quand|ou|pourquoi|est ce|puis je")
ALL_OF_THEM = phrases("them|those|these|les|ceux|both|les deux|all|tous")
CHEAPEST = phrases("cheapest|moins cher")
VALUE = phrases("value|price|prix")
CRITERIA: dict[str, tuple[str, ...]] = {
    "price": phrases("price|prix|cost"),
    "price_per_unit": phrases("per kg|per kilo|per litre|au kilo|au litre"),
    "producer": phrases("producer|producteur"),
    "region": phrases("region|origin|origine"),
    "organic": phrases("organic|bio"),
    "allergens": phrases("allergen|allergens|allergene|allergenes"),
    "aged_months": phrases("aged|ageing|aging|affinage"),
    "alcohol": phrases("alcohol|alcool"),
    "vintage": phrases("vintage|millesime"),
    "unit": phrases("size|weight|format|poids"),
}
DEFAULT_CRITERIA = ["price", "price_per_unit", "producer", "organic"]
# Words a question about "it" may use besides intent words ("is it organic?").
ABOUT_IT = phrases(
    "organic|bio|allergen|allergens|allergene|contain|contains|contient|gluten|price|prix|cost|"
    "coute|much|stock|available|disponible|vegan|vegetarian|good|bon|more|plus|one|un|une|"
    "cheapest|cheaper|moins|cher"
)
# Left to the smalltalk skill when nothing else in the sentence is about the shop.
SMALLTALK = phrases(
    "what time|time is it|quelle heure|who are you|your name|are you a robot|are you real|help|"
    "aide|what can you do|how are you|thank|thanks|merci|repeat|say that again|repete|qui es tu|"
    "comment vas tu|comment allez vous|ca va"
)
CAPABILITIES = phrases(
    "what can you do|what do you do|how can you help|que sais tu faire|que peux tu faire|"
    "que pouvez vous faire|vous faites quoi"
)
PRODUCERS = phrases(
    "producers|the producers|farms|who are the producers|producteurs|les producteurs"
)
